"""A fresh ledger never posts twice: Visma is the record of what is posted.

Two folders with two fresh ledgers run the same configuration against the same simulator and the
same SFTP folder, as a user would (the console script): the second finds every reference already
in Visma, adopts it and sends nothing. Under both readings of ``totalCount`` (lines or batches),
with journal pages small enough that every listing spans several pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset
from tests.support.visma_sim import VismaSim

CREATE = "POST /v2/journaltransaction"


def _creates(sim: VismaSim) -> int:
    return int(sim.stats()["requests"].get(CREATE, 0))


def _run(c: Connection) -> dict[str, Any]:
    done = c.cli("run", "--json")
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    [summary] = json.loads(done.stdout)
    return dict(summary)


def _second_folder(first: Connection) -> Connection:
    """The same configuration from another folder with its own, empty ledger (a new machine)."""
    workdir = first.workdir / "second-machine"
    workdir.mkdir()
    second = Connection(
        name=first.name,
        workdir=workdir,
        sftp=first.sftp,
        sim=first.sim,
        ledger_url=f"sqlite:///{workdir / 'ledger.db'}",
        remote_root=first.remote_root,
    )
    second.write_config()
    return second


@pytest.mark.parametrize("total_count", ["lines", "batches"])
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_two_fresh_ledgers_post_every_reference_once(
    total_count: str,
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    sim = visma_sim_factory(seed="demo", faults=f"total_count={total_count}", journal_max_page_size=25)
    first = connection_factory(sim)
    ds = Dataset.make(30, missing=0)
    ids = ds.invoice_ids
    first.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids))
    first.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    expected = ds.expected(ids)

    s1 = _run(first)
    assert s1["posted"] == len(expected) and s1["already_in_visma"] == 0
    assert _creates(sim) == len(expected)
    first.assert_exactly_once(expected)

    second = _second_folder(first)
    sim.reset_stats()
    s2 = _run(second)
    assert _creates(sim) == 0, "a fresh ledger sent a create for a document Visma already holds"
    assert s2["already_in_visma"] == len(expected) and s2["posted"] == 0, s2
    first.assert_exactly_once(expected)
    # bulk reads, never per document: the listings of the periods posted into, nothing else
    journal_reads = sum(
        n for path, n in sim.stats()["requests"].items() if path.startswith("GET /v2/journal")
    )
    assert 0 < journal_reads < len(expected)

    status = json.loads(second.cli("status", "--json").stdout)
    assert status[0]["already_in_visma"] == len(expected)
    assert status[0]["documents"] == {"posted": len(expected)}
    recon = second.cli("reconcile", "--period", "2025-03", "--format", "json")
    assert recon.returncode == 0, recon.stdout + recon.stderr
    totals = json.loads(recon.stdout)["totals"]
    assert totals["already_in_visma"] > 0 and totals["duplicate_in_visma"] == 0, totals
    assert totals["missing_in_visma"] == 0 and totals["amount_difference"] == 0, totals

    # and a second run of the second ledger: nothing new, nothing sent
    s3 = _run(second)
    assert _creates(sim) == 0 and s3["posted"] == 0 and s3["already_in_visma"] == 0
    first.assert_exactly_once(expected)
