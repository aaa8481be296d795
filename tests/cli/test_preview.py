"""``preview FILE`` (issue 13 points 4 and 7): a readable table by default (document, action,
accounts, cost centers, amounts, problems), ``--json`` for machines, exit 1 when any document has a
problem, and it agrees with what ``run`` then does: a payment voided before it was posted is skipped
with its reason, not shown as a reversal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.sample_world import INVOICES_CSV, PAYMENTS_CSV, SAMPLES, sample_world


def test_preview_is_a_table_agrees_with_run_and_fails_on_problems(tmp_path: Path) -> None:
    with sample_world(tmp_path, [INVOICES_CSV]) as world:
        assert world.cli("run").returncode == 0  # master data cached, the invoices posted
        payments = SAMPLES / PAYMENTS_CSV[1]

        table = world.cli("preview", str(payments))
        assert table.returncode == 0, table.stdout + table.stderr
        assert not table.stdout.lstrip().startswith("{"), "a table, not one long JSON line"
        [void] = [ln for ln in table.stdout.splitlines() if "PAYV:90332014" in ln]
        assert "skip" in void and "before it was posted" in void, void
        [paid] = [ln for ln in table.stdout.splitlines() if "PAY:90331870" in ln]
        assert "post" in paid and "25510.60 NOK" in paid and "2460" in paid and "1920" in paid, paid

        data = json.loads(world.cli("preview", str(payments), "--json").stdout)
        actions = {d["key"]: d["action"] for d in data["documents"]}
        assert actions["PAYV:90332014"] == "skip" and "payload" not in next(
            d for d in data["documents"] if d["key"] == "PAYV:90332014"
        )
        assert data["problems"] == 0

        # run does what preview said
        world.stampli.joinpath("outbound", "payments", payments.name).write_bytes(payments.read_bytes())
        ran = json.loads(world.cli("run", "--json").stdout)[0]
        done = {e["document"]: e["outcome"] for e in ran["events"]}
        assert done.get("PAYV:90332014") == "skipped", ran
        assert ran["posted"] == sum(1 for a in actions.values() if a == "post"), (ran, actions)

        # a document that would be parked: exit 1, the problem named in the table
        bad = tmp_path / "stampli_invoices_C100234_20250311T071500Z_0001.csv"
        text = (SAMPLES / INVOICES_CSV[1]).read_text(encoding="utf-8")
        bad.write_text(text.replace("41877203", "71877203").replace(",6800,", ",9999,"), encoding="utf-8")
        parked = world.cli("preview", str(bad))
        assert parked.returncode == 1, parked.stdout + parked.stderr
        [row] = [ln for ln in parked.stdout.splitlines() if "INV:71877203" in ln]
        assert "park" in row and "9999" in row, row
        already = [ln for ln in parked.stdout.splitlines() if "INV:41877219" in ln]
        assert already and "already_read" in already[0], parked.stdout
        assert "1 with a problem" in parked.stdout
        assert world.cli("preview", str(bad), "--json").returncode == 1
