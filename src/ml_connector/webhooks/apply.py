"""What a notification triggers, in the loop of ``serve`` between two polls: read just the notified
entities from Visma into the cache, put the documents parked on them back to pending, post those.

The same steps as a cycle's (``auto_replay``, ``post_pending``), so the same exactly-once rules
hold; the loop runs them one at a time with the connection's cycles, never beside one. Reading the
entity's current state makes duplicate and out-of-order notifications harmless: the last read wins,
whichever notice caused it. A read that fails leaves the cache as it was; the next poll refreshes all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ml_connector.domain.masterdata import Segment
from ml_connector.errors import ConnectorError
from ml_connector.logs import log_context
from ml_connector.pipeline.booked import LookupIncomplete
from ml_connector.pipeline.cycle import PostStep
from ml_connector.pipeline.masterdata import ACCOUNT, SEGMENT_VALUE, SUPPLIER
from ml_connector.pipeline.ports import LedgerPort, MasterDataReads
from ml_connector.pipeline.posting import PostingStats, auto_replay, post_pending
from ml_connector.pipeline.refresh import account_entries, segment_entries, snapshot, supplier_entries
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.supplier_booked import adopt_or_hold
from ml_connector.webhooks.notice import SEGMENT, Entity
from ml_connector.webhooks.stale import StaleEntities

log = logging.getLogger("ml_connector.webhooks")

Entry = tuple[bool, dict[str, Any]]  # (active, facts), as in the master-data cache


async def refresh_entities(
    visma: MasterDataReads, ledger: LedgerPort, connection: str, entities: set[Entity]
) -> None:
    """Each entity as Visma has it now; one that is gone stays in the cache as inactive."""
    for kind, key in sorted(entities):
        if kind == ACCOUNT:
            account = await visma.account(key)
            _store(ledger, connection, kind, key, account_entries([account]) if account is not None else {})
        elif kind == SUPPLIER:
            supplier = await visma.supplier(key)
            found = supplier_entries([supplier]) if supplier is not None else {}
            _store(ledger, connection, kind, key, found)
        elif kind == SEGMENT_VALUE:
            segment_id, _, value_id = key.partition(":")
            value = await visma.segment_value(int(segment_id), value_id)
            entries: dict[str, Entry] = {}
            if value is not None:
                one = Segment(segment_id=int(segment_id), values=(value,))
                entries = segment_entries([one])
            _store(ledger, connection, kind, key, entries)
        elif kind == SEGMENT:
            segments = [s for s in await visma.subaccount_dimension() if str(s.segment_id) == key]
            ledger.upsert_master(connection, SEGMENT_VALUE, segment_entries(segments))


def _store(ledger: LedgerPort, connection: str, kind: str, key: str, entries: dict[str, Entry]) -> None:
    """What Visma answered for ``key``; nothing (it does not exist): a cached entry turns inactive."""
    if key in entries:
        ledger.upsert_master(connection, kind, {key: entries[key]})
        return
    cached = ledger.master(connection, kind).get(key)
    if cached is not None and cached[0]:
        ledger.upsert_master(connection, kind, {key: (False, cached[1])})


async def apply_stale(rt: Runtime, entities: set[Entity], *, post: PostStep = post_pending) -> PostingStats:
    """Refresh ``entities``, replay what was parked on them, post it; recorded as a run. ``post``:
    the scaled-out worker spreads the posting over the workers, as its cycles do."""
    stats = PostingStats()
    started = time.monotonic()
    run_id = rt.ledger.start_run(rt.name)
    error: str | None = None
    with log_context(connection=rt.name, run_id=run_id):
        try:
            async with rt.visma() as visma:
                await refresh_entities(visma.masterdata, rt.ledger, rt.name, entities)
                md = snapshot(rt.ledger, rt.name, rt.config.visma.company_id)
                auto_replay(rt, md, stats)
                if stats.auto_replayed:
                    # a supplier invoice's first create needs this cycle's read of its supplier's
                    # documents, as in a cycle (journal mode: nothing to read here)
                    await adopt_or_hold(rt, visma, md, stats)
                    await post(rt, visma, md, stats)
        except LookupIncomplete as exc:
            error = f"webhook refresh: supplier invoice lookup did not finish, nothing posted: {exc}"
            log.warning("connection %s: %s (the next poll looks again)", rt.name, error)
        except ConnectorError as exc:
            error = f"webhook refresh: {exc}"
            log.warning("connection %s: %s (the next poll refreshes everything)", rt.name, exc)
        finally:
            rt.ledger.finish_run(
                run_id,
                status="failed" if error else "ok",
                stats={
                    "connection": rt.name,
                    "trigger": "webhook",
                    "entities": sorted(f"{k} {v}" for k, v in entities),
                    "auto_replayed": stats.auto_replayed,
                    "posted": stats.posted,
                    "parked": stats.parked,
                    "seconds": round(time.monotonic() - started, 3),
                },
                error=error,
            )
    log.info(
        "connection %s: webhook refresh of %d entities: %d replayed, %d posted",
        rt.name,
        len(entities),
        stats.auto_replayed,
        stats.posted,
    )
    return stats


async def until_next_poll(rt: Runtime, stale: StaleEntities, stop: asyncio.Event, seconds: float) -> None:
    """Wait out the poll interval (or until ``stop``), applying notifications as they come."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        stopping = asyncio.ensure_future(stop.wait())
        notified = asyncio.ensure_future(stale.wait(rt.name, left))
        try:
            await asyncio.wait({stopping, notified}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            notified.cancel()
        if stop.is_set():
            return
        entities = stale.take(rt.name)
        if entities:
            await apply_stale(rt, entities)
