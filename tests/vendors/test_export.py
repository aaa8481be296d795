"""The vendor export over the real OpenSSH server and the Visma simulator: full, delta, an upload
interrupted before the rename, inactive vendors, and vendor-master drift holding a payment."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from ml_connector import service
from ml_connector.adapters.sftp.source import SftpSource
from ml_connector.demo.generate import generate
from ml_connector.errors import TransientSourceError
from ml_connector.ledger.store import DocStatus
from ml_connector.ledger.vendor_store import VendorStore
from ml_connector.pipeline.cycle import run_cycle
from ml_connector.vendors.export import ExportResult, export_vendors
from ml_connector.vendors.schedule import due_mode
from tests.vendors.conftest import VendorEnv

SEEDED = ["10023", "10057", "20011", "20034"]
NAME = re.compile(r"^vendors_C100234_\d{8}T\d{6}Z_(full|delta)\.csv$")


def _export(env: VendorEnv, mode: str, **kw: Any) -> ExportResult:
    result = asyncio.run(export_vendors(env.rt, env.app.ledger, mode=mode, **kw))  # type: ignore[arg-type]
    assert result.status != "failed", result.error
    return result


def _iban(value: str, bic: str = "DNBANOKK") -> dict[str, Any]:
    return {
        "supplierPaymentMethodDetails": [
            {
                "paymentMethodDetailID": "IBAN",
                "paymentMethodDetailDescription": "IBAN",
                "paymentMethodDetailValue": value,
            },
            {
                "paymentMethodDetailID": "BIC",
                "paymentMethodDetailDescription": "BIC/SWIFT",
                "paymentMethodDetailValue": bic,
            },
        ]
    }


def test_full_export_writes_every_supplier_in_the_section_4_6_layout(venv: VendorEnv) -> None:
    venv.sim.modify_supplier("10057", **_iban("NO9386011117947"))
    venv.sim.modify_supplier("20034", status="Inactive")
    result = _export(venv, "full")
    assert result.status == "ok" and result.vendors_exported == 4
    assert venv.files() == [result.file_name]  # no .tmp left behind, one final file
    assert result.file_name is not None and NAME.match(result.file_name)
    assert result.remote_path == f"{venv.remote_root}/vendors/{result.file_name}"
    data = (venv.folder("vendors") / result.file_name).read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 5
    rows = venv.rows(result.file_name)
    assert [r["vendorId"] for r in rows] == SEEDED  # sorted by vendor id
    by_id = {r["vendorId"]: r for r in rows}
    assert by_id["10057"]["iban"] == "NO9386011117947" and by_id["10057"]["bic"] == "DNBANOKK"
    assert by_id["10057"]["vendorName"] == "Bjørnstad Transport AS" and by_id["10057"]["terms"] == "30"
    assert by_id["20011"]["countryCode"] == "SE" and by_id["20011"]["currencyId"] == "SEK"
    assert by_id["20034"]["active"] == "false" and by_id["10023"]["active"] == "true"  # inactive, not dropped
    assert by_id["10023"]["phone"] == "+47 22 33 44 55"  # read back through the injection guard
    assert b"'+47 22 33 44 55" in data  # ...which a spreadsheet shows as text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", by_id["10023"]["lastModified"])
    # nothing changed since: a delta reads only recent changes and uploads nothing
    again = _export(venv, "delta")
    assert again.status == "unchanged" and again.vendors_exported == 0 and len(venv.files()) == 1


def test_delta_holds_exactly_the_two_changed_suppliers(venv: VendorEnv) -> None:
    _export(venv, "full")
    venv.sim.modify_supplier("10023", name="Nordlys Kontor AS")
    venv.sim.modify_supplier("20011", mainContact={"email": "ap@akesson.se"})
    seen = len(venv.sim.exchanges)
    result = _export(venv, "delta")
    assert result.status == "ok" and result.file_name and result.file_name.endswith("_delta.csv")
    rows = venv.rows(result.file_name)
    assert [r["vendorId"] for r in rows] == ["10023", "20011"]
    assert rows[0]["vendorName"] == "Nordlys Kontor AS" and rows[1]["email"] == "ap@akesson.se"
    asked = [e.query_string for e in venv.sim.exchanges[seen:] if e.path == "/v1/supplier"]
    assert asked and all("lastModifiedDateTime=" in q for q in asked)  # only recent changes were read
    # a change Stampli cannot see (a field not in the file) is no reason for a file
    venv.sim.modify_supplier("10057", documentLanguage="en-GB")
    assert _export(venv, "delta").status == "unchanged"


def test_interrupted_upload_leaves_no_final_file_and_is_retried(
    venv: VendorEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(venv, "full")
    venv.sim.modify_supplier("10023", name="Nordlys Kontor AS")
    venv.sim.modify_supplier("20034", name="Kärkkäinen Software Oy")
    before = {k: v["exported_hash"] for k, v in VendorStore(venv.app.ledger).states("acme").items()}

    async def dropped(self: SftpSource, s: Any, src: str, dst: str) -> None:
        raise TransientSourceError(f"connection lost before renaming {src}")

    monkeypatch.setattr(SftpSource, "_rename", dropped)
    failed = asyncio.run(export_vendors(venv.rt, venv.app.ledger, mode="delta"))
    assert failed.status == "failed" and failed.file_name is not None
    visible = [n for n in venv.files() if not n.endswith(".tmp")]
    assert failed.file_name not in visible and len(visible) == 1  # only the earlier full file
    assert f"{failed.file_name}.tmp" in venv.files()  # the partial upload never got its final name
    after = {k: v["exported_hash"] for k, v in VendorStore(venv.app.ledger).states("acme").items()}
    assert after == before  # the hashes did not move on
    assert [u["status"] for u in VendorStore(venv.app.ledger).uploads("acme")] == ["uploaded", "failed"]

    monkeypatch.undo()
    retried = _export(venv, "delta")
    assert retried.status == "ok" and retried.file_name != failed.file_name
    assert [r["vendorId"] for r in venv.rows(str(retried.file_name))] == ["10023", "20034"]
    assert _export(venv, "delta").status == "unchanged"


def test_full_file_never_deletes_a_vendor_visma_stopped_listing(venv: VendorEnv) -> None:
    _export(venv, "full")
    venv.sim.reset("empty")  # every supplier gone from Visma's listing
    result = _export(venv, "full")
    rows = venv.rows(str(result.file_name))
    assert [r["vendorId"] for r in rows] == SEEDED
    assert {r["active"] for r in rows} == {"false"}
    assert rows[1]["vendorName"] == "Bjørnstad Transport AS"


def test_dry_run_uploads_and_records_nothing(venv: VendorEnv) -> None:
    result = _export(venv, "full", dry_run=True)
    assert result.vendors_exported == 4 and result.content.startswith(b"vendorId,")
    assert venv.files() == [] and VendorStore(venv.app.ledger).uploads("acme") == []
    assert VendorStore(venv.app.ledger).states("acme") == {}


def test_schedule_full_first_then_daily_at_full_at_and_deltas_between(venv: VendorEnv) -> None:
    rt = venv.rt
    assert due_mode(rt, venv.app.ledger, datetime(2030, 1, 1, 12, tzinfo=UTC)) == "full"  # never exported
    _export(venv, "full")
    started = VendorStore(venv.app.ledger).last_upload("acme", mode="full")
    assert started is not None
    t0: datetime = started["started_at"]
    assert due_mode(rt, venv.app.ledger, t0) == "delta"
    # after 02:00 Europe/Oslo on the next day the full file is due again; before it, deltas
    assert (
        due_mode(
            rt, venv.app.ledger, datetime.combine(t0.date() + timedelta(days=1), time(1, 30), tzinfo=UTC)
        )
        == "full"
    )


def test_bank_change_is_audited_and_holds_earlier_approved_payments_until_confirmed(venv: VendorEnv) -> None:
    venv.sim.modify_supplier("10057", **_iban("NO9386011117947"))
    _export(venv, "full")  # the bank account as Stampli and we know it
    venv.sim.modify_supplier("10057", **_iban("NO8330001234567", bic="NDEANOKK"))
    venv.sim.modify_supplier("20011", name="Åkesson & Söner Aktiebolag")  # no bank change
    result = _export(venv, "delta")
    assert result.bank_changes == ["10057"]
    trail = venv.app.ledger.audit_trail("vendor", "10057")
    assert [a.action for a in trail] == ["bank_changed"]
    assert trail[0].details["old"]["iban"] == "****7947" and trail[0].details["new"]["iban"] == "****4567"
    assert venv.app.ledger.audit_trail("vendor", "20011") == []

    export = generate(30, missing=0)
    name, text = export.payments_csv[0]
    assert ",10057," in text  # payments approved (and exported) long before the change
    venv.put("payments", name, text)
    cycle = asyncio.run(run_cycle(venv.rt))
    assert cycle.status == "ok", cycle.errors
    docs = venv.app.ledger.all_documents("acme")
    payments = [d for d in docs if d.kind == "payment"]
    held = [d for d in payments if d.vendor_id == "10057"]
    others = [d for d in payments if d.vendor_id != "10057"]
    assert held and all(d.status == DocStatus.PARKED for d in held)
    assert others and all(d.status == DocStatus.POSTED for d in others)
    flagged = [f for f in service.failures(venv.app, "acme") if f["code"] == "vendor_bank_changed"]
    assert len(flagged) == len(held)
    assert all(f["category"] == "source_data" and "****4567" in f["reason"] for f in flagged)
    # the invoice cycle alone never releases them (no automatic replay)
    asyncio.run(run_cycle(venv.rt))
    assert all(venv.app.ledger.document_by_id(d.id).status == DocStatus.PARKED for d in held)

    # a person confirms one payment: `replay ID` posts it; the others stay held
    first = flagged[0]
    replayed, _cycles = asyncio.run(service.replay_failures(venv.app, [first["id"]], actor="cli:anna"))
    assert replayed.requeued == [first["doc_key"]] and not replayed.refused
    assert (
        venv.app.ledger.document(  # type: ignore[union-attr]
            "acme", first["doc_key"]
        ).status
        == DocStatus.POSTED
    )
    still = [f for f in service.failures(venv.app, "acme") if f["code"] == "vendor_bank_changed"]
    assert len(still) == len(flagged) - 1


def test_cli_dry_run_then_full_as_a_user_runs_it(venv: VendorEnv, tmp_path: Path) -> None:
    cli = [str(Path(sys.executable).with_name("ml-connector")), "vendors", "export"]
    env = {**venv.environ, "COLUMNS": "200"}
    conf = ["--config", str(venv.config_path), "--json"]
    dry = subprocess.run(
        [*cli, "--full", "--dry-run", "--save", str(tmp_path / "v.csv"), *conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    [summary] = json.loads(dry.stdout)
    assert summary["dry_run"] and summary["vendors_exported"] == 4 and summary["remote_path"] is None
    assert venv.files() == [] and (tmp_path / "v.csv").read_bytes().startswith(b"vendorId,vendorName,")
    full = subprocess.run(
        [*cli, "--full", *conf], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert full.returncode == 0, full.stderr
    [summary] = json.loads(full.stdout)
    assert summary["status"] == "ok" and venv.files() == [summary["file_name"]]
    both = subprocess.run(
        [*cli, "--full", "--delta", *conf], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert both.returncode != 0
