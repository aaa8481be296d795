"""A fresh ledger never posts twice: Visma is the record of what is posted.

Two folders with two fresh ledgers run the same configuration against the same simulator and the
same SFTP folder, as a user would (the console script): the second finds every reference already
in Visma, adopts it and sends nothing. Under both readings of ``totalCount`` (lines or batches),
with journal pages small enough that every listing spans several pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ml_connector import service
from ml_connector.domain.booked import Booked
from ml_connector.errors import RetriableDestinationError
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.booked import LookupIncomplete, adopt_booked
from ml_connector.pipeline.intake import IntakeStats, intake
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import PostingStats
from ml_connector.pipeline.refresh import refresh
from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset
from tests.support.visma_sim import VismaSim

CREATE = "POST /v2/journaltransaction"
RELEASE = "POST /v2/journaltransaction/{journalTransactionNumber}/action/release"


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


class BrokenListing:
    """A Visma port whose journal listings fail part way (the retries spent)."""

    def __init__(self, inner: VismaPort) -> None:
        self.inner = inner

    @property
    def booked(self) -> BrokenListing:
        return self

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[Booked]:
        raise RetriableDestinationError("GET /v2/journaltransaction page 2: 503 (test)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_steady_cycles_read_one_listing_and_an_unfinished_one_posts_nothing(
    connection: Connection, fast_retries: None
) -> None:
    c = connection
    ds = Dataset.make(24, missing=0)
    ids = ds.invoice_ids
    app = c.open_app()
    for n, part in enumerate((ids[:8], ids[8:16]), start=1):
        c.put_invoices(f"stampli_invoices_C100234_20250331T07150{n}Z_0001.csv", ds.invoices_text(part))
        [result] = await service.run_once(app, c.name)
        assert result.status == "ok" and result.posting.posted == len(part), result.errors

    # steady state: one create per document and one listing of what changed since the last cycle
    c.put_invoices("stampli_invoices_C100234_20250331T071503Z_0001.csv", ds.invoices_text(ids[16:20]))
    c.sim.reset_stats()
    [steady] = await service.run_once(app, c.name)
    assert steady.posting.posted == 4
    assert c.journal_calls() == {"GET /v2/journaltransaction": 1, CREATE: 4, RELEASE: 4}

    # a listing that does not finish concludes nothing: nothing is sent, the documents wait
    c.put_invoices("stampli_invoices_C100234_20250331T071504Z_0001.csv", ds.invoices_text(ids[20:]))
    rt = app.runtime(c.name)
    async with rt.visma() as visma:
        md = await refresh(visma.masterdata, rt.ledger, rt.name, rt.config.visma.company_id)
        async with rt.stampli() as source:
            await intake(rt, source, IntakeStats())
        c.sim.reset_stats()
        with pytest.raises(LookupIncomplete):
            await adopt_booked(rt, BrokenListing(visma), md, PostingStats())
    assert CREATE not in c.journal_calls()
    pending = rt.ledger.documents_with_status(c.name, [DocStatus.PENDING])
    assert sorted(str(r.reference) for r in pending) == sorted(f"ST-{i}" for i in ids[20:])

    [after] = await service.run_once(app, c.name)
    assert after.status == "ok" and after.posting.posted == len(ids[20:])
    c.assert_exactly_once(ds.expected(ids, payments=False))
