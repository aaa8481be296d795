"""The Stampli side of a cycle, listed early: while the Visma side runs (master-data refresh,
settling), the SFTP session is opened and both folders are listed, so the two waits overlap.

An idle cycle is mostly waiting: on Visma for the refresh, on the SFTP server for the login and
the listings. Only the listing is moved earlier; downloads and reading stay where they were (after
settling and replaying). A file that turns ready in between is simply taken by the next cycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

from ml_connector.domain.files import RemoteFile
from ml_connector.pipeline.ports import StampliSource
from ml_connector.pipeline.runtime import Runtime

# What the partial-file guard let through, per folder: (kind, file), in folder then path order.
Listing = list[tuple[str, RemoteFile]]


async def list_folders(rt: Runtime, source: StampliSource) -> Listing:
    """The ready files of the invoices folder, then of the payments folder: one listing each."""
    cfg = rt.config.sftp
    listed: Listing = []
    for kind, folder in (("invoices", cfg.invoices_folder), ("payments", cfg.payments_folder)):
        listed += [(kind, remote) for remote in await source.list_ready(folder, cfg.file_pattern)]
    return listed


class EarlyListing:
    """``async with EarlyListing(rt) as early: ...; async with early.source() as (source, listed)``.

    Entering starts opening the source and listing in a task; ``ready``/``source`` wait for it and
    raise what it raised (a ``SourceError`` is the cycle's to handle, as before). Leaving (or
    ``close``) cancels the task if it still runs and closes the source."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._opened: AbstractAsyncContextManager[StampliSource] | None = None
        self._task: asyncio.Task[tuple[StampliSource, Listing]] | None = None
        self._claimed = False
        # What the listing raised when the cycle never asked for it (its Visma side failed first):
        # a host-key mismatch must still reach the audit trail.
        self.unclaimed: BaseException | None = None

    async def __aenter__(self) -> EarlyListing:
        self._task = asyncio.create_task(self._open_and_list(), name=f"list {self._rt.name}")
        return self

    async def _open_and_list(self) -> tuple[StampliSource, Listing]:
        opening = self._rt.stampli()
        source = await opening.__aenter__()
        self._opened = opening  # from here on, leaving closes it
        return source, await list_folders(self._rt, source)

    async def ready(self) -> tuple[StampliSource, Listing]:
        if self._task is None:
            raise RuntimeError("EarlyListing.ready outside its `async with`")
        self._claimed = True
        return await self._task

    @asynccontextmanager
    async def source(self) -> AsyncIterator[tuple[StampliSource, Listing]]:
        """``async with early.source() as (source, listed)``: the open source and its listing,
        closed when the block ends (not held open while the cycle posts)."""
        try:
            yield await self.ready()
        finally:
            await self.close()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            if not task.done():
                task.cancel()
            # Waits for the cancellation; takes an error nobody asked for (the cycle failed first).
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            if not self._claimed and isinstance(outcome, Exception):
                self.unclaimed = outcome
        opened, self._opened = self._opened, None
        if opened is not None:
            await opened.__aexit__(None, None, None)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
