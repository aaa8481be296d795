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
from dataclasses import dataclass
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


class InProcessBudget:
    """The budget of one process; concurrent tasks reserve slots in turn."""

    def __init__(self, *, low_water: int = 10) -> None:
        self.low_water = low_water
        self._state = RateState()
        self._last_slot: float | None = None
        self._blocked_until: float | None = None
        self._lock = asyncio.Lock()

    def snapshot(self) -> RateState:
        return self._state

    async def reserve(self, now: float) -> float:
        async with self._lock:
            state = self._state
            if state.reset_at is not None and state.reset_at <= now:
                # The window has reset: the count is unknown until the next response says.
                state = self._state = RateState(limit=state.limit)
                self._last_slot = None
            slot = next_slot(state, now, self._last_slot, self.low_water)
            if self._blocked_until is not None:
                if self._blocked_until > now:
                    slot = max(slot, self._blocked_until)
                else:
                    self._blocked_until = None
            if state.remaining is not None:
                self._state = RateState(state.limit, max(state.remaining - 1, 0), state.reset_at)
            self._last_slot = slot
            return slot

    async def observe(self, state: RateState, now: float) -> None:
        async with self._lock:
            old = self._state
            new_window = (
                old.reset_at is None
                or state.reset_at is None
                or old.reset_at <= now
                or state.reset_at > old.reset_at + 1.0
            )
            remaining = state.remaining
            reset_at = state.reset_at
            if not new_window:
                # Answers to concurrent calls arrive out of order: trust the lowest count. The
                # window's end does not move, but Reset is whole seconds (rounded up by the
                # simulator): the earliest estimate is the closest.
                if remaining is not None and old.remaining is not None:
                    remaining = min(remaining, old.remaining)
                if reset_at is not None and old.reset_at is not None:
                    reset_at = min(reset_at, old.reset_at)
            self._state = RateState(
                limit=state.limit if state.limit is not None else old.limit,
                remaining=remaining if remaining is not None else old.remaining,
                reset_at=reset_at if reset_at is not None else old.reset_at,
            )

    async def throttled(self, retry_after: float, now: float) -> None:
        async with self._lock:
            until = now + retry_after
            self._blocked_until = max(until, self._blocked_until or 0.0)


async def wait_for_slot(budget: RateBudget, clock: Callable[[], float] = time.time) -> float:
    """Reserve a slot and sleep until it; return the seconds waited."""
    now = clock()
    slot = await budget.reserve(now)
    delay = max(0.0, slot - now)
    if delay > 0:
        await asyncio.sleep(delay)
    return delay
