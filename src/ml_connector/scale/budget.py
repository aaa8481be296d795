"""The Visma rate budget shared by every worker: one ``rate_budgets`` row per rate window.

Visma counts calls per client and tenant in a fixed window and reports ``X-RateLimit-Limit``,
``-Remaining`` and ``-Reset``. In one process ``InProcessBudget`` paces the calls; with several
worker machines each would believe it has the whole window. ``PgBudget`` keeps the same state in
PostgreSQL and changes it only under ``SELECT ... FOR UPDATE``, so reservations from all workers
are serialised and counted once:

The rules themselves are ``reserve_rule``/``observe_rule``/``throttle_rule`` in
``adapters/visma/ratelimit.py``, shared with the in-process budget.

* ``reserve``: take one call. ``remaining`` is decremented *before* the call is sent (pessimistic),
  so N workers never hand out more than the window holds; the pacing rule is the same pure
  ``next_slot`` as in one process (spread the last ``low_water`` calls until the reset).
* ``observe``: a response's headers. Within one window the lowest count wins (answers arrive out of
  order, and our own reservations may be ahead of what Visma has seen yet). When an answer shows a
  window we did not know yet, its count is lowered by the calls still in flight (reserved, not yet
  answered): Visma may not have counted them yet, but it will.
* ``throttled``: a 429's ``Retry-After`` blocks every worker until then.

When a window has passed and its limit is known, the new window is assumed to hold ``limit`` calls
until an answer reports it (Visma's window starts with the first call after the reset); when even
that is used up before any answer, calls wait in short steps for one.

The key is ``api_url | client_id | tenant_id``: what Visma counts a window by (connections that
share a client and a company share one budget).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ml_connector.adapters.visma.ratelimit import (
    BudgetRow,
    RateBudget,
    RateState,
    observe_rule,
    reserve_rule,
    throttle_rule,
)
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.ledger.scale_schema import rate_budgets
from ml_connector.ledger.store import utcnow


def budget_key(settings: VismaSettings) -> str:
    text = f"{settings.api_base}|{settings.client_id}|{settings.tenant_id}"
    if len(text) <= 200:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class PgBudget:
    """``RateBudget`` over one ``rate_budgets`` row; safe across processes and machines."""

    def __init__(self, engine: Engine, key: str, *, low_water: int = 10) -> None:
        self.engine = engine
        self.key = key
        self.low_water = low_water
        self._state = RateState()
        self._ensured = False

    def snapshot(self) -> RateState:
        return self._state

    def _ensure(self, conn: Connection) -> None:
        if self._ensured:
            return
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(rate_budgets)
            .values(key=self.key, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        self._ensured = True

    def _update(self, change: Callable[[BudgetRow], tuple[BudgetRow, Any]], **counts: int) -> Any:
        with self.engine.begin() as conn:
            self._ensure(conn)
            rec = (
                conn.execute(sa.select(rate_budgets).where(rate_budgets.c.key == self.key).with_for_update())
                .mappings()
                .one()
            )
            row = BudgetRow(
                rec["limit_"],
                rec["remaining"],
                rec["reset_at"],
                rec["last_slot"],
                rec["blocked_until"],
                int(rec["inflight"]),
            )
            new, result = change(row)
            values: dict[str, Any] = {
                "limit_": new.limit,
                "remaining": new.remaining,
                "reset_at": new.reset_at,
                "last_slot": new.last_slot,
                "blocked_until": new.blocked_until,
                "inflight": new.inflight,
                "updated_at": utcnow(),
            }
            for column, n in counts.items():
                values[column] = rate_budgets.c[column] + n
            conn.execute(rate_budgets.update().where(rate_budgets.c.key == self.key).values(**values))
        self._state = RateState(new.limit, new.remaining, new.reset_at)
        return result

    async def reserve(self, now: float) -> float:
        def change(row: BudgetRow) -> tuple[BudgetRow, float]:
            return reserve_rule(row, now, self.low_water)

        slot: float = await asyncio.to_thread(self._update, change, reserved=1)
        return slot

    async def observe(self, state: RateState, now: float) -> None:
        def change(row: BudgetRow) -> tuple[BudgetRow, None]:
            return observe_rule(row, state, now), None

        await asyncio.to_thread(self._update, change)

    async def throttled(self, retry_after: float, now: float) -> None:
        def change(row: BudgetRow) -> tuple[BudgetRow, None]:
            return throttle_rule(row, retry_after, now), None

        await asyncio.to_thread(self._update, change, throttled=1)


def pg_budget_factory(engine: Engine) -> Callable[[VismaSettings], RateBudget]:
    """For ``Runtime.budget_factory``: every client of one window shares one row."""

    def factory(settings: VismaSettings) -> RateBudget:
        return PgBudget(engine, budget_key(settings), low_water=settings.low_water)

    return factory
