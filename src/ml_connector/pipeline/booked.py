"""Visma is the record of what is posted: before a document's first create, look its reference up.

A lost, restored or second ledger knows nothing of what an earlier one posted, and Visma has no
idempotency key. So every cycle, before posting, the connector learns from Visma which of our
references are already booked, in bulk (never per document):

- a period it is about to post into and has never read is listed whole, once;
- after that, one listing of the journal transactions modified since a watermark (the newest
  ``lastModifiedDateTime`` seen, minus an overlap) keeps what it knows current, whatever the period.

Every reference of ours it sees (``ST-``, ``SP-``, ``SPV-``) is kept in the ledger's cache of Visma
data (``master_data`` kind ``journal_ref``). A pending document whose reference is there is adopted
(state, batch number, audit "found in Visma, not sent again") and never sent. A listing that does
not finish concludes nothing: that cycle posts nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ml_connector.domain.booked import Booked
from ml_connector.domain.journal import Voucher
from ml_connector.domain.problems import Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.voucher_codec import encode_voucher
from ml_connector.errors import AmbiguousDestinationError, RetriableDestinationError
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import (
    RELEASED,
    PostingStats,
    build_voucher,
    finish_created,
)
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.settlement import VoucherFacts, bookings_for
from ml_connector.pipeline.supplier_ledger import uses_supplier_ledger

log = logging.getLogger("ml_connector.booked")

JOURNAL_REF = "journal_ref"  # master_data kind: one of our references seen in Visma
WATERMARK = "journal"  # sync_state kind: newest lastModifiedDateTime seen in a journal listing
PERIOD_READ = "journal:"  # sync_state kind prefix: a period this ledger has listed whole
OUR_PREFIXES = ("ST-", "SP-", "SPV-")
FOUND_IN_VISMA = "found_in_visma"  # the audit action of an adoption
# A batch committed just before one already seen may carry a slightly older timestamp.
OVERLAP = timedelta(minutes=1)


class LookupIncomplete(Exception):
    """A journal listing did not finish: nothing may be concluded (and nothing posted) this cycle."""


@dataclass(frozen=True)
class Planned:
    row: StoredDocument
    voucher: Voucher


async def learn_booked(rt: Runtime, visma: VismaPort, periods: set[str]) -> None:
    """Bring the cache of our references in Visma up to date for posting into ``periods``.
    Raises LookupIncomplete when a listing fails part way (the cache and marks stay as they were)."""
    ledger, name = rt.ledger, rt.name
    mark = ledger.sync_mark(name, WATERMARK)
    read_before = {k.removeprefix(PERIOD_READ) for k in ledger.sync_kinds(name, PERIOD_READ)}
    # Without a watermark nothing would show what changed in a period read before: read it whole.
    # The watermark is Visma's own clock (the newest lastModifiedDateTime seen), never ours.
    whole = sorted(periods if mark is None else periods - read_before)
    seen: list[Booked] = []
    try:
        for period in whole:
            seen += await visma.booked.journals(period=period)
        if mark is not None:
            seen += await visma.booked.journals(modified_since=mark - OVERLAP)
    except (RetriableDestinationError, AmbiguousDestinationError) as exc:
        raise LookupIncomplete(str(exc)) from exc
    _remember(rt, seen)
    newest = [j.last_modified for j in seen if j.last_modified is not None]  # aware UTC (the port's)
    if newest and (mark is None or max(newest) > mark):
        ledger.set_sync_mark(name, WATERMARK, max(newest))
    for period in whole:
        ledger.set_sync_mark(name, PERIOD_READ + period, None)


def _remember(rt: Runtime, journals: list[Booked]) -> None:
    found: dict[str, dict[str, dict[str, Any]]] = {}  # reference -> batch number -> what we keep
    for j in journals:
        for ref in j.references:
            if ref.startswith(OUR_PREFIXES):
                found.setdefault(ref, {})[j.number] = {
                    "batch": j.number,
                    "status": j.status,
                    "period": j.financial_period,
                }
    if not found:
        return
    known = rt.ledger.master_of(rt.name, JOURNAL_REF, found)
    merged: dict[str, tuple[bool, dict[str, Any]]] = {}
    for ref, batches in found.items():
        before = {b["batch"]: b for b in known.get(ref, (True, {"batches": []}))[1].get("batches", [])}
        before.update(batches)
        merged[ref] = (True, {"batches": sorted(before.values(), key=lambda b: str(b["batch"]))})
    rt.ledger.upsert_master(rt.name, JOURNAL_REF, merged)


def plan(rt: Runtime, md: MasterData) -> list[Planned]:
    """Pending documents and the vouchers they would post (those that cannot be built are parked
    by posting itself, with the reason)."""
    out = []
    for row in rt.ledger.documents_with_status(rt.name, [DocStatus.PENDING]):
        if uses_supplier_ledger(rt.config, row.kind):
            continue  # looked up by supplier instead (pipeline/supplier_booked.py)
        try:
            bookings = bookings_for(rt.ledger, rt.name, row, rt.config.mapping, md.base_currency)
            voucher, _ = build_voucher(row, md, rt.config, VoucherFacts(bookings=bookings))
        except Unpostable:
            continue
        out.append(Planned(row, voucher))
    return out


async def adopt_booked(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    """Adopt every pending document whose reference Visma already holds; raises LookupIncomplete."""
    planned = plan(rt, md)
    if not planned:
        return
    await learn_booked(rt, visma, {p.voucher.financial_period for p in planned})
    booked = rt.ledger.master_of(rt.name, JOURNAL_REF, (p.row.reference for p in planned))
    for p in planned:
        entry = booked.get(p.row.reference)
        if entry:
            await _adopt(rt, visma, p, entry[1]["batches"], stats)


async def _adopt(
    rt: Runtime, visma: VismaPort, p: Planned, batches: list[dict[str, Any]], stats: PostingStats
) -> None:
    ref, doc_id = p.row.reference, p.row.id
    first = batches[0]
    if len(batches) > 1:
        stats.duplicates_found += len(batches) - 1
        log.error("reference %s found in %d Visma batches", ref, len(batches))
    released = first["status"] in RELEASED
    target = DocStatus.POSTED if released or not rt.config.posting.release else DocStatus.CREATED
    if not rt.ledger.transition(
        doc_id,
        FOUND_IN_VISMA,
        target,
        actor=rt.actor,
        reason=f"reference {ref} found in Visma batch {first['batch']} ({first['status']}): "
        "found in Visma, not sent again",
        details={"batches": [b["batch"] for b in batches]},
        batch_number=first["batch"],
        voucher=encode_voucher(p.voucher),
        period=first["period"] or p.voucher.financial_period,
        etag=None,
    ):
        return  # another worker moved it meanwhile
    stats.already_in_visma += 1
    if target == DocStatus.CREATED:  # booked on hold by the earlier ledger: release it as it would have
        await finish_created(rt, visma, rt.ledger.document_by_id(doc_id), stats)
