"""A race between two workers settling the same unknown outcome, played deterministically.

Worker A lists the period's journal (the reference is not there) and, before A acts on that
answer, worker B settles the same document, claims it and sends a create whose answer is lost
(it committed). A's listing is now stale: acting on it ("not in Visma: safe to post again") would
book the document twice. The transition must notice that the document moved on since A read it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ml_connector.domain.booked import Booked, Created
from ml_connector.domain.journal import Voucher
from ml_connector.errors import AmbiguousDestinationError
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.intake import IntakeStats, intake
from ml_connector.pipeline.ports import PostingTarget, VismaPort
from ml_connector.pipeline.posting import PostingStats, post_pending, settle
from ml_connector.pipeline.refresh import refresh
from ml_connector.pipeline.runtime import Runtime
from tests.pipeline.conftest import (
    TOTAL_COUNTS,
    ConnectionFactory,
    Dataset,
    cycles_until_settled,
    sim_counting,
)
from tests.support.visma_sim import VismaSim


class LostCreate:
    """A posting target whose creates time out before they are sent (outcome unknown, not booked)."""

    def __init__(self, inner: PostingTarget[Voucher]) -> None:
        self.inner = inner

    async def create(self, voucher: Voucher) -> Created:
        raise AmbiguousDestinationError("read timeout (test)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class LostAnswer:
    """A Visma port whose creates time out before they are sent."""

    def __init__(self, inner: VismaPort) -> None:
        self.inner = inner
        self.posting = LostCreate(inner.posting)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class StaleListing:
    """Worker A's Visma port: after reading the period's journal, it lets worker B run first."""

    def __init__(self, inner: VismaPort, worker_b: Any) -> None:
        self.inner = inner
        self.worker_b = worker_b

    @property
    def booked(self) -> StaleListing:
        return self

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[Booked]:
        listing = await self.inner.booked.journals(period=period, modified_since=modified_since)
        await self.worker_b()
        return listing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("total_count", TOTAL_COUNTS)
@pytest.mark.parametrize(
    "ledger_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_stale_not_found_never_requeues_a_document_another_worker_sent(
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
    fast_retries: None,
    total_count: str,
) -> None:
    c = connection_factory(sim_counting(visma_sim_factory, total_count))
    ds = Dataset.make(1, missing=0)
    [inv] = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text([inv]))
    app = c.open_app()
    rt_a: Runtime = app.runtime(c.name, actor="worker-a")
    rt_b: Runtime = app.runtime(c.name, actor="worker-b")
    key = f"INV:{inv}"

    # 1. a create whose outcome is unknown (and that never reached Visma)
    async with rt_a.visma() as visma:
        md = await refresh(visma.masterdata, rt_a.ledger, rt_a.name, rt_a.config.visma.company_id)
        async with rt_a.stampli() as source:
            await intake(rt_a, source, IntakeStats())
        await post_pending(rt_a, LostAnswer(visma), md, PostingStats())
    assert app.ledger.document(c.name, key).status == DocStatus.UNKNOWN  # type: ignore[union-attr]

    # 2. A settles with a listing that B makes stale: B settles, claims, sends; the answer is lost
    async def worker_b() -> None:
        async with rt_b.visma() as visma_b:
            await settle(rt_b, visma_b, PostingStats())  # not in Visma -> pending
            c.sim.set_faults("drop_next=1")  # the create commits, the connection drops
            await post_pending(rt_b, visma_b, md, PostingStats())
        assert app.ledger.document(c.name, key).status == DocStatus.UNKNOWN  # type: ignore[union-attr]
        assert len(c.batches_by_reference()[f"ST-{inv}"]) == 1

    async with rt_a.visma() as visma_a:
        await settle(rt_a, StaleListing(visma_a, worker_b), PostingStats())

    # 3. whatever A concluded, the document is in Visma once and stays once
    await cycles_until_settled(app, c.name, max_cycles=4)
    c.assert_exactly_once(ds.expected([inv], payments=False))
