"""Per connection: the entities notified as changed and not yet refreshed, and a wake-up for the
loop of ``serve`` that waits for its next poll. In memory on purpose: a restart loses nothing that
the first cycle (a full refresh) does not cover."""

from __future__ import annotations

import asyncio
import contextlib

from ml_connector.webhooks.notice import Entity


class StaleEntities:
    def __init__(self) -> None:
        self._pending: dict[str, set[Entity]] = {}
        self._wake: dict[str, asyncio.Event] = {}

    def _event(self, connection: str) -> asyncio.Event:
        return self._wake.setdefault(connection, asyncio.Event())

    def mark(self, connection: str, entity: Entity) -> None:
        self._pending.setdefault(connection, set()).add(entity)
        self._event(connection).set()

    def take(self, connection: str) -> set[Entity]:
        self._event(connection).clear()
        return self._pending.pop(connection, set())

    async def wait(self, connection: str, timeout: float) -> bool:
        """True when something was marked stale within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event(connection).wait(), timeout=timeout)
        return bool(self._pending.get(connection))
