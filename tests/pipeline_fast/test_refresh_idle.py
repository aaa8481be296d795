"""The master-data refresh of an idle cycle: its five reads are in flight together (one round trip
of waiting, not five), a failed read writes nothing and leaves no read running, and a refresh that
finds nothing changed writes no master-data row."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector.domain.masterdata import Account, Currency, Period, Segment, Supplier
from ml_connector.errors import RetriableDestinationError
from ml_connector.ledger.schema import master_data
from ml_connector.pipeline.masterdata import ACCOUNT, CURRENCY
from ml_connector.pipeline.refresh import refresh
from tests.pipeline_fast.conftest import NAME, World
from tests.support.fakes import FakeVisma

READS = 5


class GatedVisma:
    """The fake's master data, each read held until all five have started (or a timeout)."""

    def __init__(self, inner: FakeVisma, *, failing: str | None = None) -> None:
        self.inner = inner
        self.failing = failing
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.all_started = asyncio.Event()

    async def _gate(self, name: str) -> None:
        self.started.append(name)
        if len(self.started) == READS:
            self.all_started.set()
        try:
            await asyncio.wait_for(self.all_started.wait(), timeout=5)
            if name == self.failing:
                raise RetriableDestinationError(f"{name}: 503 from the fake")
            if self.failing is not None:
                await asyncio.sleep(5)  # still waiting on Visma when another read fails
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise

    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]:
        await self._gate("accounts")
        return await self.inner.accounts(modified_since=modified_since)

    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]:
        await self._gate("suppliers")
        return await self.inner.suppliers(modified_since=modified_since)

    async def subaccount_dimension(self) -> list[Segment]:
        await self._gate("subaccount_dimension")
        return await self.inner.subaccount_dimension()

    async def financial_periods(self) -> list[Period]:
        await self._gate("financial_periods")
        return await self.inner.financial_periods()

    async def currencies(self) -> list[Currency]:
        await self._gate("currencies")
        return await self.inner.currencies()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _rows(world: World) -> list[tuple[Any, ...]]:
    with world.ledger.tx() as conn:
        q = sa.select(master_data.c.kind, master_data.c.key, master_data.c.refreshed_at)
        return sorted(tuple(r) for r in conn.execute(q.where(master_data.c.connection == NAME)))


def test_the_five_reads_are_in_flight_together(world: World) -> None:
    gated = GatedVisma(world.visma)
    md = asyncio.run(refresh(gated, world.ledger, NAME, "1"))
    assert sorted(gated.started) == sorted(
        ["accounts", "suppliers", "subaccount_dimension", "financial_periods", "currencies"]
    )
    assert gated.all_started.is_set() and not gated.cancelled
    assert "1920" in md.accounts and "NOK" in md.currencies


def test_a_failed_read_writes_nothing_and_cancels_the_others(world: World) -> None:
    gated = GatedVisma(world.visma, failing="suppliers")
    with pytest.raises(RetriableDestinationError):
        asyncio.run(refresh(gated, world.ledger, NAME, "1"))
    assert sorted(gated.cancelled) == sorted(
        ["accounts", "subaccount_dimension", "financial_periods", "currencies"]
    )
    assert _rows(world) == []
    assert world.ledger.sync_mark(NAME, ACCOUNT) is None


def test_an_unchanged_refresh_writes_no_master_row(world: World) -> None:
    asyncio.run(refresh(world.visma, world.ledger, NAME, "1"))
    before = _rows(world)
    assert before, "the first refresh fills the cache"
    asyncio.run(refresh(world.visma, world.ledger, NAME, "1"))
    assert _rows(world) == before  # not one refreshed_at moved
    world.visma.currency_list.append(Currency("USD"))
    world.visma.add_account("6999", description="New account", type="Expense")
    asyncio.run(refresh(world.visma, world.ledger, NAME, "1"))
    after = {(kind, key): at for kind, key, at in _rows(world)}
    assert (CURRENCY, "USD") in after and (ACCOUNT, "6999") in after
    old = {(kind, key): at for kind, key, at in before}
    moved = {k for k in old if after.get(k) != old[k]}
    assert moved == set(), f"rows written again although unchanged: {sorted(moved)}"
