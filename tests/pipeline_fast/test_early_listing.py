"""The Stampli side is logged in and listed while the Visma side of the cycle runs (issue 18's idle
cycle); downloads still come after settling, and a failed Visma side closes the source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector.domain.files import RemoteFile
from ml_connector.domain.masterdata import Account
from ml_connector.errors import FatalDestinationError, HostKeyMismatchError, TransientSourceError
from ml_connector.ledger.schema import audit
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import World


def _trace(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []
    visma, stampli = world.visma, world.stampli
    accounts, list_ready, download = visma.accounts, stampli.list_ready, stampli.download

    async def slow_accounts(*, modified_since: datetime | None = None) -> list[Account]:
        events.append("refresh starts")
        await asyncio.sleep(0.05)  # Visma answering slowly
        events.append("refresh ends")
        return await accounts(modified_since=modified_since)

    async def traced_list(folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]:
        events.append(f"list {folder}")
        return await list_ready(folder, pattern)

    async def traced_download(remote: RemoteFile, dest_dir: Any) -> Any:
        events.append("download")
        return await download(remote, dest_dir)

    monkeypatch.setattr(visma, "accounts", slow_accounts)
    monkeypatch.setattr(stampli, "list_ready", traced_list)
    monkeypatch.setattr(stampli, "download", traced_download)
    return events


async def test_listing_overlaps_the_refresh_and_downloads_wait_for_it(
    world: World, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids[:2]))
    events = _trace(world, monkeypatch)
    result = await world.cycle()
    assert result.status == "ok", result.errors
    assert result.intake.files_new == 1
    lists = [i for i, e in enumerate(events) if e.startswith("list ") and not e.endswith("/images")]
    assert len(lists) == 2  # one listing per folder
    assert max(lists) < events.index("refresh ends")  # listed while Visma was still answering
    assert events.index("download") > events.index("refresh ends")  # taken in after the Visma side
    # the invoice images are looked for with the export, once, after the export was read
    images = [i for i, e in enumerate(events) if e == "list /outbound/invoices/images"]
    assert len(images) == 1 and images[0] > events.index("download")
    again = await world.cycle()
    assert (again.intake.files_new, again.intake.files_skipped) == (0, 1)


async def test_a_failed_visma_side_closes_the_early_listing(
    world: World, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids[:2]))
    events = _trace(world, monkeypatch)
    closed: list[bool] = []

    @asynccontextmanager
    async def tracked(rt: Any, *, quick: bool = False) -> AsyncIterator[Any]:
        try:
            yield world.stampli
        finally:
            closed.append(True)

    monkeypatch.setattr(world.connectors, "stampli", tracked)

    async def refused(*, modified_since: datetime | None = None) -> list[Account]:
        await asyncio.sleep(0.05)  # the listing is done by now: its session is open
        raise FatalDestinationError("Visma Connect refused the client credentials (401)")

    monkeypatch.setattr(world.visma, "accounts", refused)
    result = await world.cycle()
    assert result.status == "failed"
    assert [e for e in events if e.startswith("list ")]
    assert "download" not in events
    assert closed == [True]  # the SFTP session was closed, not left open
    assert world.statuses() == {}


async def test_a_failed_listing_is_the_cycles_sftp_error_as_before(
    world: World, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]:
        raise TransientSourceError("sftp.invalid:22: connection timed out")

    monkeypatch.setattr(world.stampli, "list_ready", down)
    result = await world.cycle()
    assert result.status == "partial"
    assert any(e.startswith("sftp: ") and "timed out" in e for e in result.errors)


async def test_a_host_key_mismatch_is_audited_even_when_the_visma_side_failed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def impostor(folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]:
        raise HostKeyMismatchError("sftp.invalid:22 presented another host key than the pinned one")

    async def refused(*, modified_since: datetime | None = None) -> list[Account]:
        await asyncio.sleep(0.05)  # the listing has failed by now
        raise FatalDestinationError("Visma Connect refused the client credentials (401)")

    monkeypatch.setattr(world.stampli, "list_ready", impostor)
    monkeypatch.setattr(world.visma, "accounts", refused)
    result = await world.cycle()
    assert result.status == "failed"
    with world.ledger.tx() as conn:
        events = list(conn.execute(sa.select(audit).where(audit.c.action == "sftp_host_key_mismatch")))
    assert len(events) == 1
