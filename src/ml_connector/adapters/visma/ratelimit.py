"""Pacing against Visma's fixed-window rate limit (``X-RateLimit-Limit/Remaining/Reset``).

Every response updates the budget; every request first reserves a slot. While plenty of calls
remain, slots are immediate. Once fewer than ``low_water`` remain, the remaining calls are
spread evenly over the time left in the window, so the budget is used up at the reset rather
than burst into 429s. With nothing left, the next slot is the reset. A 429 with ``Retry-After``
closes the window until then for every caller.

``RateBudget`` is the small interface a shared store (a database row, Redis) would implement
so that several workers share one company budget; ``InProcessBudget`` is the in-memory one.
Times are wall-clock seconds (``time.time()``) so that a shared store can compare them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

_EPOCH_THRESHOLD = 1_000_000_000.0  # a Reset value this large is an epoch time, not seconds


@dataclass(frozen=True, slots=True)
class RateState:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # wall-clock seconds (time.time()) when the window resets

    def reset_in(self, now: float) -> float | None:
        return None if self.reset_at is None else max(0.0, self.reset_at - now)


def parse_rate_headers(headers: Mapping[str, str], now: float) -> RateState | None:
    """The budget a response reports, or None when it carries no rate-limit headers."""
    limit = _int(headers.get("x-ratelimit-limit"))
    remaining = _int(headers.get("x-ratelimit-remaining"))
    reset_raw = _float(headers.get("x-ratelimit-reset"))
    if limit is None and remaining is None and reset_raw is None:
        return None
    reset_at = None
    if reset_raw is not None:
        reset_at = reset_raw if reset_raw >= _EPOCH_THRESHOLD else now + reset_raw
    return RateState(limit=limit, remaining=remaining, reset_at=reset_at)


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value.strip()) if value is not None else None
    except ValueError:
        return None


def next_slot(state: RateState, now: float, last_slot: float | None, low_water: int) -> float:
    """Pure pacing rule: the earliest time the next request may start.

    - unknown budget, or the window already reset: now;
    - nothing remaining: the reset;
    - at least ``low_water`` remaining: now (no pacing while the budget is comfortable);
    - otherwise: the calls left share the time from the previous slot to the reset evenly,
      ``last + (reset - last) / (remaining + 1)``; the ``+ 1`` keeps the last call one share
      before the reset instead of on it.
    """
    if state.remaining is None or state.reset_at is None or state.reset_at <= now:
        return now
    if state.remaining <= 0:
        return state.reset_at
    if state.remaining >= low_water or last_slot is None:
        return now
    share = (state.reset_at - last_slot) / (state.remaining + 1)
    return max(now, last_slot + share)


class RateBudget(Protocol):
    """A rate budget that may be shared between workers of one company/client."""

    async def reserve(self, now: float) -> float:
        """Take one call from the budget; return the wall-clock time at which it may be sent."""
        ...

    async def observe(self, state: RateState, now: float) -> None:
        """Record the budget a response reported."""
        ...

    async def throttled(self, retry_after: float, now: float) -> None:
        """Record a 429: nobody sends before ``now + retry_after``."""
        ...

    def snapshot(self) -> RateState: ...


UNKNOWN_WINDOW_STEP = 0.2  # seconds to wait when a fresh window is used up before any answer
INFLIGHT_FORGET = 60.0  # seconds idle after which calls never answered (transport errors) are dropped


@dataclass(frozen=True)
class BudgetRow:
    """What a budget remembers between calls (in memory, or one PostgreSQL row per window)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    last_slot: float | None = None
    blocked_until: float | None = None
    inflight: int = 0


def reserve_rule(row: BudgetRow, now: float, low_water: int) -> tuple[BudgetRow, float]:
    """Pure: the row after one reservation and the time the call may be sent."""
    if row.last_slot is not None and now - row.last_slot > INFLIGHT_FORGET:
        row = replace(row, inflight=0)  # calls that never got an answer (transport errors)
    if row.reset_at is not None and row.reset_at <= now:
        # The window is over: a fresh one holds ``limit`` calls (unknown end until an answer).
        row = BudgetRow(
            limit=row.limit, remaining=row.limit, blocked_until=row.blocked_until, inflight=row.inflight
        )
    state = RateState(row.limit, row.remaining, row.reset_at)
    slot = next_slot(state, now, row.last_slot, low_water)
    if row.reset_at is None and row.remaining is not None and row.remaining <= 0:
        slot = max(slot, now + UNKNOWN_WINDOW_STEP)  # used up before any answer: wait for one
    blocked = row.blocked_until
    if blocked is not None:
        if blocked > now:
            slot = max(slot, blocked)
        else:
            blocked = None
    remaining = None if row.remaining is None else max(row.remaining - 1, 0)
    if row.reset_at is None and row.remaining is not None and row.remaining <= 0:
        remaining = 0
    return (
        replace(row, remaining=remaining, last_slot=slot, blocked_until=blocked, inflight=row.inflight + 1),
        slot,
    )


def observe_rule(row: BudgetRow, reported: RateState, now: float) -> BudgetRow:
    """Pure: the row after a response reported ``reported``."""
    stale = row.reset_at is not None and row.reset_at <= now
    moved = (
        row.reset_at is not None and reported.reset_at is not None and reported.reset_at > row.reset_at + 1.0
    ) or (
        # A different limit is a different window (a policy change): our own count of the old
        # one says nothing about it.
        reported.limit is not None and row.limit is not None and reported.limit != row.limit
    )
    remaining, reset_at = reported.remaining, reported.reset_at
    inflight = max(row.inflight - 1, 0)  # this answer's call
    if (stale or moved or row.remaining is None) and remaining is not None:
        remaining = max(remaining - inflight, 0)  # calls on their way, not yet counted by Visma
    if not (stale or moved):
        # Same window (or a fresh one we have been counting since its start): the lowest count and
        # the earliest end are the closest (Reset is whole seconds, rounded up).
        if remaining is not None and row.remaining is not None:
            remaining = min(remaining, row.remaining)
        if reset_at is not None and row.reset_at is not None:
            reset_at = min(reset_at, row.reset_at)
    return replace(
        row,
        limit=reported.limit if reported.limit is not None else row.limit,
        remaining=remaining if remaining is not None else row.remaining,
        reset_at=reset_at if reset_at is not None else row.reset_at,
        inflight=inflight,
    )


def throttle_rule(row: BudgetRow, retry_after: float, now: float) -> BudgetRow:
    """Pure: after a 429, nobody sends before ``now + retry_after``."""
    return replace(row, blocked_until=max(now + retry_after, row.blocked_until or 0.0))


class InProcessBudget:
    """The budget of one process: the shared rules over a row kept in memory, taken in turn."""

    def __init__(self, *, low_water: int = 10) -> None:
        self.low_water = low_water
        self._row = BudgetRow()
        self._lock = asyncio.Lock()

    def snapshot(self) -> RateState:
        return RateState(self._row.limit, self._row.remaining, self._row.reset_at)

    async def reserve(self, now: float) -> float:
        async with self._lock:
            self._row, slot = reserve_rule(self._row, now, self.low_water)
            return slot

    async def observe(self, state: RateState, now: float) -> None:
        async with self._lock:
            self._row = observe_rule(self._row, state, now)

    async def throttled(self, retry_after: float, now: float) -> None:
        async with self._lock:
            self._row = throttle_rule(self._row, retry_after, now)


async def wait_for_slot(budget: RateBudget, clock: Callable[[], float] = time.time) -> float:
    """Reserve a slot and sleep until it; return the seconds waited."""
    now = clock()
    slot = await budget.reserve(now)
    delay = max(0.0, slot - now)
    if delay > 0:
        await asyncio.sleep(delay)
    return delay
