"""The one retry policy: exponential backoff with full jitter, capped by attempts and by total time.

Used by the SFTP source (timeouts, dropped connections) and the Visma client (429, 5xx on reads,
timeouts before a request was sent). Tests shrink the delays with ``set_testing``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("ml_connector.retry")

_testing_scale = 1.0


def set_testing(scale: float | None) -> None:
    """Multiply every delay by ``scale`` (``None`` restores real delays). For tests only."""
    global _testing_scale
    _testing_scale = 1.0 if scale is None else scale


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # total tries, the first one included
    base_delay: float = 1.0  # seconds before the second try (before jitter)
    max_delay: float = 60.0  # no single wait is longer
    total_timeout: float = 300.0  # give up once this much time has passed since the first try

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait before try number ``attempt + 1`` (``attempt`` counts tries done, from 1)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(cap / 2, cap) * _testing_scale


SFTP_POLICY = RetryPolicy(attempts=6, base_delay=2.0, max_delay=60.0, total_timeout=300.0)
# A refused SFTP connection before any session succeeded: a few quick tries, then a clear error.
SFTP_REFUSED_POLICY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=2.0, total_timeout=8.0)
VISMA_POLICY = RetryPolicy(attempts=5, base_delay=1.0, max_delay=30.0, total_timeout=120.0)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    retry_on: tuple[type[BaseException], ...],
    what: str,
    wait_hint: Callable[[BaseException], float | None] | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying only ``retry_on`` errors within the policy's caps.

    ``wait_hint`` may return a server-given wait (``Retry-After``) that replaces the backoff
    when it is longer. The last error is re-raised when the caps are reached.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except retry_on as exc:
            delay = policy.delay(attempt)
            hint = wait_hint(exc) if wait_hint else None
            if hint is not None:
                delay = max(delay, hint * _testing_scale)
            elapsed = time.monotonic() - started
            budget = policy.total_timeout * _testing_scale
            if attempt >= policy.attempts or elapsed + delay > budget:
                raise
            log.warning("%s failed (%s); retry %d in %.2fs", what, type(exc).__name__, attempt, delay)
            if on_retry:
                on_retry(attempt, exc, delay)
            await asyncio.sleep(delay)
