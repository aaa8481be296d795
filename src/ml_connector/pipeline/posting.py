"""Posting, exactly once: validate, claim, create, record, release; settle what a crash left open.

The order of effects for one document, each step committed before the next begins:

    pending --claim--> posting --create ok--> created --(attach image)--> --release ok--> posted
                          |  \\--rejected--> parked (failure with Visma's answer)
                          \\--outcome unknown (timeout, drop, 5xx, crash)--> unknown
    unknown --reference found in Visma--> created     unknown --not found--> pending

A create is never sent again until a lookup by reference has shown it is not in Visma, and a first
create only after the cycle has learnt which references Visma already holds (``pipeline/booked.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from ml_connector.config.model import ConnectionConfig
from ml_connector.domain.booked import Booked
from ml_connector.domain.documents import invoice_from_json, payment_from_json
from ml_connector.domain.journal import Voucher
from ml_connector.domain.problems import Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import RELEASED_STATUSES
from ml_connector.domain.voucher_codec import PAYMENT_KINDS, SUPPLIER_INVOICE, AnyVoucher, encode_voucher
from ml_connector.errors import (
    AmbiguousDestinationError,
    FatalDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.ledger.claims import claim_is_dead
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.moves import Move
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.attach import attach_image, image_ready
from ml_connector.pipeline.crashpoints import crashpoint
from ml_connector.pipeline.journal import (
    invoice_voucher,
    payment_voucher,
    reversal_voucher,
    void_reference,
)
from ml_connector.pipeline.masterdata import AP_PERIOD, PERIOD, SEGMENT_VALUE, MasterData
from ml_connector.pipeline.periods import choose_period
from ml_connector.pipeline.ports import (
    DocumentTarget,
    SupplierLedgerTarget,
    SupplierPaymentsTarget,
    VismaPort,
)
from ml_connector.pipeline.rules import Category, Problem, check_voucher
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.settlement import NotYet, VoucherFacts, voucher_facts
from ml_connector.pipeline.supplier_ledger import (
    check_supplier_invoice,
    supplier_invoice_voucher,
    uses_supplier_ledger,
)
from ml_connector.pipeline.supplier_payments import (
    SUPPLIER_DOCUMENT,
    check_supplier_payment,
    supplier_document_present,
    supplier_payment_void,
    supplier_payment_voucher,
    uses_supplier_payments,
)
from ml_connector.pipeline.vendor_drift import bank_change_problems
from ml_connector.pipeline.who_pays import skip_reason

log = logging.getLogger("ml_connector.posting")

# Released journal batches, and supplier invoices past their release (Open, Closed, ...).
RELEASED = frozenset({"Released", "Posted", "Completed", "Unposted"}) | RELEASED_STATUSES
LEFT_ON_HOLD = Move("posted", reason="left on hold")  # created -> posted when releasing is off


@dataclass
class PostingStats:
    posted: int = 0
    parked: int = 0
    unknown: int = 0
    settled_found: int = 0
    settled_not_found: int = 0
    retry_later: int = 0
    auto_replayed: int = 0
    duplicates_found: int = 0
    already_in_visma: int = 0  # found in Visma before a first create: adopted, not sent again
    duplicates_in_visma: int = 0  # another channel's supplier invoice found first: parked, not sent
    attached: int = 0  # invoice images attached in Visma (pipeline/attach.py)
    posted_keys: list[str] = field(default_factory=list)


def build_voucher(
    doc: StoredDocument,
    md: MasterData,
    cfg: ConnectionConfig,
    facts: VoucherFacts | None = None,
) -> tuple[Voucher, str | None]:
    """The voucher for a stored document and the Visma supplier it must name. Pure: what it needs
    beyond the document (``pipeline/settlement.py``) comes in ``facts``."""
    mapping = cfg.mapping
    company = md.base_currency
    facts = facts or VoucherFacts()
    bookings = facts.bookings
    source: dict[str, Any] = dict(doc.source)
    if doc.kind == "invoice":
        inv = invoice_from_json(source)
        if inv.exchange_rate is None and facts.invoice_rate is not None:
            inv = replace(inv, exchange_rate=facts.invoice_rate)  # Visma's of the day, now recorded
        period, day = choose_period(inv.effective_posting_date, md, cfg)
        supplier = mapping.supplier_map.get(inv.vendor_id, inv.vendor_id)
        voucher = invoice_voucher(inv, mapping, period=period, transaction_date=day, company_currency=company)
        return voucher, supplier
    pay = payment_from_json(source)
    supplier = mapping.supplier_map.get(pay.vendor_id, pay.vendor_id)
    if doc.kind == "payment":
        period, day = choose_period(pay.payment_date, md, cfg)
        voucher = payment_voucher(
            pay, mapping, period=period, transaction_date=day, company_currency=company, bookings=bookings
        )
        return voucher, supplier
    when = pay.voided_at.date() if pay.voided_at else pay.payment_date
    period, day = choose_period(when, md, cfg)
    original = payment_voucher(
        pay, mapping, period=period, transaction_date=day, company_currency=company, bookings=bookings
    )
    why = f"payment {pay.payment_number or pay.stampli_payment_id} voided in Stampli: {pay.void_reason or ''}"
    return reversal_voucher(
        original, reference=void_reference(pay), period=period, transaction_date=day, why=why
    ), (supplier)


async def post_pending(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    pending = await rt.ledger.aio.documents_with_status(rt.name, [DocStatus.PENDING])
    rows = [r for r in pending if not await _skipped(rt, r)]
    # Invoices before payments, oldest first: a payment's invoice should be in the books first.
    rows.sort(key=lambda r: (r.kind != "invoice", r.id))
    semaphore = asyncio.Semaphore(max(1, rt.post_concurrency))
    done = 0

    async def one(row: StoredDocument) -> None:
        nonlocal done
        async with semaphore:
            await post_one(rt, visma, md, row, stats)
            done += 1
            if rt.on_progress:
                rt.on_progress("posting", done, len(rows))

    # Payments start once every invoice of the cycle is done: a payment's settlement reads its
    # invoice's recorded voucher (pipeline/settlement.py), and with the ledger's writes awaited
    # (group commit) an invoice started first is no longer recorded before a payment's turn comes.
    invoices = [r for r in rows if r.kind == "invoice"]
    await _wave([one(r) for r in invoices])
    payments = rows[len(invoices) :]
    if invoices and auto_replay(rt, md, stats, waiting_for=SUPPLIER_DOCUMENT):
        # Supplier payments parked for an invoice released just now post in this same cycle.
        again = await rt.ledger.aio.documents_with_status(rt.name, [DocStatus.PENDING])
        known = {r.id for r in rows}
        payments += [r for r in again if r.kind != "invoice" and r.id not in known]
    await _wave([one(r) for r in payments])


async def _wave(posts: list[Coroutine[Any, Any, None]]) -> None:
    for res in await asyncio.gather(*posts, return_exceptions=True):
        if isinstance(res, BaseException):  # FatalDestinationError included: the cycle stops
            raise res


async def _skipped(rt: Runtime, row: StoredDocument) -> bool:
    """A pending payment read before the connection said Visma pays: skipped now, never posted."""
    reason = skip_reason(rt.config, row.kind)
    if reason is None:
        return False
    await rt.ledger.aio.transition(row.id, "visma_pays", actor=rt.actor, reason=reason)
    return True


async def _park(rt: Runtime, row: StoredDocument, event: str, problems: list[Problem], **extra: Any) -> None:
    first = problems[0]
    missing = [m for p in problems for m in p.missing_json()]
    await rt.ledger.aio.park(
        row.id,
        event,
        category=first.category,
        code=",".join(dict.fromkeys(p.code for p in problems)),
        reason="; ".join(p.reason for p in problems),
        missing=missing or None,
        actor=rt.actor,
        **extra,
    )


@dataclass(frozen=True)
class Prepared:
    """A document ready to claim: its voucher, the target that takes it and what to call it."""

    voucher: AnyVoucher
    target: DocumentTarget[Any]
    what: str  # "journal transaction" | "supplier invoice" | "supplier payment", for messages
    problems: list[Problem]


async def prepare(rt: Runtime, visma: VismaPort, md: MasterData, row: StoredDocument) -> Prepared:
    """Build and check the voucher of the document's target (raises Unpostable to park, NotYet to
    wait for the next cycle)."""
    cfg = rt.config
    if uses_supplier_ledger(cfg, row.kind):
        invoice = supplier_invoice_voucher(row, md, cfg)
        return Prepared(
            invoice, supplier_target(visma), "supplier invoice", check_supplier_invoice(invoice, md, cfg)
        )
    if uses_supplier_payments(cfg, row.kind):
        payment = supplier_payment_voucher(rt.ledger, row, md, cfg)
        problems = check_supplier_payment(payment, md, cfg) + bank_change_problems(rt, row, payment.supplier)
        return Prepared(payment, payments_target(visma), "supplier payment", problems)
    void = supplier_payment_void(rt.ledger, row, md, cfg) if row.kind == "payment_void" else None
    if void is not None:  # its payment is a Visma supplier payment: a VoidPayment undoes it
        return Prepared(void, payments_target(visma), "supplier payment void", [])
    facts = await voucher_facts(rt.ledger, visma.masterdata, rt.name, row, cfg.mapping, md.base_currency)
    voucher, supplier = build_voucher(row, md, cfg, facts)
    problems = check_voucher(voucher, md, cfg.mapping, supplier=supplier)
    if row.kind == "payment":  # vendor-master drift: a bank change after approval waits for a person
        problems += bank_change_problems(rt, row, supplier)
    return Prepared(voucher, visma.posting, "journal transaction", problems)


def supplier_target(visma: VismaPort) -> SupplierLedgerTarget:
    target = visma.supplier_ledger
    if target is None:  # the wiring builds it for every supplier_invoice connection
        raise FatalDestinationError("the connection posts supplier invoices but has no supplier-ledger port")
    return target


def payments_target(visma: VismaPort) -> SupplierPaymentsTarget:
    target = visma.supplier_payments
    if target is None:  # the wiring builds it for every supplier_invoice connection
        raise FatalDestinationError("the connection posts supplier payments but has no supplier-payment port")
    return target


def target_of(visma: VismaPort, row: StoredDocument) -> tuple[DocumentTarget[Any], str]:
    """The target a claimed document was (or is being) posted to: its stored voucher says which."""
    if (row.voucher or {}).get("kind") == SUPPLIER_INVOICE:
        return supplier_target(visma), "supplier invoice"
    if (row.voucher or {}).get("kind") in PAYMENT_KINDS:
        return payments_target(visma), "supplier payment"
    return visma.posting, "batch"


async def post_one(
    rt: Runtime, visma: VismaPort, md: MasterData, row: StoredDocument, stats: PostingStats
) -> None:
    cfg = rt.config
    if not image_ready(cfg, row):
        return  # posting.require_image: its image lookup has not finished yet (pipeline/images.py)
    try:
        prepared = await prepare(rt, visma, md, row)
    except NotYet as exc:
        log.info("%s waits for the next cycle: %s", row.doc_key, exc)
        stats.retry_later += 1
        return
    except Unpostable as exc:
        await _park(rt, row, "unpostable", list(exc.problems))
        stats.parked += 1
        return
    if prepared.problems:
        await _park(rt, row, "unpostable", prepared.problems)
        stats.parked += 1
        return
    voucher = prepared.voucher
    dto = encode_voucher(voucher)  # the domain voucher (domain/voucher_codec.py), not Visma's body
    if not await rt.ledger.aio.claim(
        row.id, voucher=dto, period=voucher.financial_period, lease=rt.claim_lease
    ):
        return  # another worker took it
    crashpoint("after_claim")
    doc_id = row.id
    try:
        created = await prepared.target.create(voucher)
    except AmbiguousDestinationError as exc:
        stats.unknown += 1
        await rt.ledger.aio.transition(
            doc_id,
            "outcome_unknown",
            actor=rt.actor,
            reason=f"the create's outcome is unknown ({exc}); looked up by reference before any retry",
        )
        return
    except RejectedByDestinationError as exc:
        stats.parked += 1
        problem = Problem(
            exc.fix_by,  # the classifier's decision, from Visma's message
            f"visma_rejected_{exc.status or 400}",
            f"Visma refused the {prepared.what}: {exc.visma_message or exc}",
        )
        await _park(rt, row, "rejected", [problem], visma_answer=exc.visma_message or str(exc))
        return
    except RetriableDestinationError as exc:
        stats.retry_later += 1
        await rt.ledger.aio.transition(
            doc_id,
            "retry_later",
            actor=rt.actor,
            reason=f"Visma was not reachable before the request was sent ({exc}); posts in the next cycle",
        )
        return
    except FatalDestinationError:
        await rt.ledger.aio.transition(doc_id, "aborted", actor=rt.actor, reason="fatal")
        raise
    crashpoint("after_send")
    recorded = Move(
        "created",
        reason=f"Visma created {'batch' if prepared.what.startswith('journal') else prepared.what} "
        f"{created.number}",
        details={"location": created.location},
        values={"batch_number": created.number, "etag": created.etag},
    )
    if not rt.config.posting.release and not row.image_path:
        # Nothing is sent between created and posted (on hold, no image): one commit for both.
        if await rt.ledger.aio.transitions(doc_id, [recorded, LEFT_ON_HOLD], actor=rt.actor):
            _count_posted(stats, row)
        crashpoint("after_record")
        return
    await rt.ledger.aio.transitions(doc_id, [recorded], actor=rt.actor)
    crashpoint("after_record")
    # The invoice image is attached here, between create and release (pipeline/attach.py).
    await finish_created(rt, visma, await rt.ledger.aio.document_by_id(doc_id), stats)


def _count_posted(stats: PostingStats, row: StoredDocument) -> None:
    stats.posted += 1
    stats.posted_keys.append(row.doc_key)


async def finish_created(rt: Runtime, visma: VismaPort, row: StoredDocument, stats: PostingStats) -> None:
    """created -> posted: attach the invoice image, then release the batch (or supplier invoice) when
    configured, tolerating a release already done; a refusal (a 200 ``Failed`` included) parks with
    Visma's text."""
    doc_id = row.id
    attached = await attach_image(rt, visma, row, stats)
    if attached is None:
        return  # parked, or the attach is retried next cycle (the document stays created)
    row = attached
    if not rt.config.posting.release:
        if await rt.ledger.aio.transitions(doc_id, [LEFT_ON_HOLD], actor=rt.actor):
            _count_posted(stats, row)
        return
    target, what = target_of(visma, row)
    batch = str(row.batch_number)
    etag = row.etag
    try:
        try:
            new_etag = await target.release(batch, etag)
        except RejectedByDestinationError as exc:
            current = await target.get(batch)
            if current.status in RELEASED:
                new_etag = current.etag
            elif exc.status == 412:
                new_etag = await target.release(batch, current.etag)
            else:
                raise
    except RejectedByDestinationError as exc:
        stats.parked += 1
        problem = Problem(
            exc.fix_by,
            "release_refused",
            f"Visma created {what} {batch} but refused to release it: {exc.visma_message or exc}; fix it in "
            f"Visma or replay to retry the release (no second {what} is created)",
        )
        await _park(rt, row, "release_rejected", [problem], visma_answer=exc.visma_message or str(exc))
        return
    except (RetriableDestinationError, AmbiguousDestinationError) as exc:
        stats.retry_later += 1
        log.warning("release of %s %s deferred: %s", what, batch, exc)
        return
    crashpoint("after_release")
    if await rt.ledger.aio.transition(
        doc_id,
        "released",
        actor=rt.actor,
        reason=f"{what} {batch} released",
        etag=new_etag or etag,
    ):
        stats.posted += 1
        stats.posted_keys.append(row.doc_key)


async def settle(rt: Runtime, visma: VismaPort, stats: PostingStats) -> None:
    """Finish what earlier runs left open, before any new work."""
    now = utcnow()
    for row in await rt.ledger.aio.documents_with_status(rt.name, [DocStatus.POSTING]):
        if claim_is_dead(row.claimed_by, row.claim_expires, now):
            await rt.ledger.aio.transition(
                row.id,
                "claim_expired",
                actor=rt.actor,
                reason=f"its claimant ({row.claimed_by}) is gone; the create may have reached Visma",
                expect={"claimed_by": row.claimed_by, "attempts": row.attempts},
            )
    # A fresh clock (unknown_to_settle): the claims just marked unknown carry a later updated_at
    # than ``now`` above, so with settle_after = 0 they would otherwise wait a whole extra cycle.
    unknown = unknown_to_settle(rt)
    index: dict[str, dict[str, list[Booked]]] = {}
    for row in unknown:
        if (row.voucher or {}).get("kind") in (SUPPLIER_INVOICE, *PAYMENT_KINDS):
            # looked up by supplier instead (supplier_booked.settle_supplier_ledger,
            # supplier_payment_booked.settle_supplier_payments)
            continue
        period = str(row.period)
        if period not in index:
            # One listing per period answers every lookup in it (journal pages are read once).
            try:
                index[period] = by_reference(await visma.booked.journals(period=period))
            except (RetriableDestinationError, AmbiguousDestinationError):
                continue  # look again next cycle
        await settle_unknown(rt, visma, row, index[period].get(row.reference, []), stats)
    for row in await rt.ledger.aio.documents_with_status(rt.name, [DocStatus.CREATED]):
        await finish_created(rt, visma, row, stats)


def unknown_to_settle(rt: Runtime) -> list[StoredDocument]:
    """Unknown outcomes old enough to look up (``settle_after``: Visma may still be committing)."""
    now = utcnow()
    return [
        r
        for r in rt.ledger.documents_with_status(rt.name, [DocStatus.UNKNOWN])
        if r.updated_at is not None and now - r.updated_at >= rt.settle_after
    ]


def by_reference(journals: list[Booked]) -> dict[str, list[Booked]]:
    index: dict[str, list[Booked]] = {}
    for j in journals:
        for ref in j.references:
            index.setdefault(ref, []).append(j)
    return index


async def settle_unknown(
    rt: Runtime, visma: VismaPort, row: StoredDocument, found: list[Booked], stats: PostingStats
) -> None:
    doc_id = row.id
    found = sorted(found, key=lambda j: j.number)
    if not found:
        stats.settled_not_found += 1
        await rt.ledger.aio.transition(
            doc_id,
            "settled_not_found",
            actor=rt.actor,
            reason=f"reference {row.reference} is not in Visma period {row.period}: safe to post",
            # the listing is only an answer for the attempt read with it: if another worker
            # claimed and sent it again meanwhile, "not found" is stale and must not requeue it
            expect={"attempts": row.attempts},
        )
        return
    if len(found) > 1:
        stats.duplicates_found += len(found) - 1
        log.error("reference %s found in %d Visma batches", row.reference, len(found))
    batch = found[0]
    full = await visma.posting.get(batch.number)
    stats.settled_found += 1
    target = status_when_found(rt, full.status)
    if await rt.ledger.aio.transition(
        doc_id,
        "settled_found",
        target,
        actor=rt.actor,
        reason=f"reference {row.reference} found in Visma batch {batch.number} ({full.status})",
        details={"batches": [j.number for j in found]},
        batch_number=batch.number,
        etag=full.etag,
    ):
        await after_found(rt, visma, row, target, stats)


async def settle_document(
    rt: Runtime,
    visma: VismaPort,
    row: StoredDocument,
    ours: list[Booked],
    target: DocumentTarget[Any],
    what: str,
    stats: PostingStats,
) -> None:
    """An unknown create of a supplier-ledger document (``what``: "supplier invoice X of supplier
    Y"), settled by a lookup that finished: ``ours`` empty -> pending (safe to post); else created or
    posted as the first one, read again by its number, duplicates counted."""
    if not ours:
        stats.settled_not_found += 1
        rt.ledger.transition(
            row.id,
            "settled_not_found",
            actor=rt.actor,
            reason=f"{what} is not in Visma: safe to post",
            expect={"attempts": row.attempts},  # a stale "not found" must not requeue a resent claim
        )
        return
    if len(ours) > 1:
        stats.duplicates_found += len(ours) - 1
    first = ours[0]
    full = await target.get(first.number)  # by {documentType}/{number}
    stats.settled_found += 1
    status = status_when_found(rt, full.status)
    if rt.ledger.transition(
        row.id,
        "settled_found",
        status,
        actor=rt.actor,
        reason=f"{what} found in Visma as {first.number} ({full.status})",
        details={"documents": [b.number for b in ours]},
        batch_number=first.number,
        etag=full.etag,
    ):
        await after_found(rt, visma, row, status, stats)


def status_when_found(rt: Runtime, visma_status: str | None) -> str:
    """A document found in Visma is posted when Visma has released it (or releasing is off);
    otherwise created, and released by ``finish_created`` as its own create would have been."""
    released = visma_status in RELEASED or not rt.config.posting.release
    return DocStatus.POSTED if released else DocStatus.CREATED


async def after_found(
    rt: Runtime, visma: VismaPort, row: StoredDocument, target: str, stats: PostingStats
) -> None:
    """After a found document was recorded as ``target``: count it, or release it."""
    if target == DocStatus.POSTED:
        _count_posted(stats, row)
    else:
        await finish_created(rt, visma, await rt.ledger.aio.document_by_id(row.id), stats)


def auto_replay(rt: Runtime, md: MasterData, stats: PostingStats, *, waiting_for: str | None = None) -> int:
    """Parked documents whose missing master data now exists in Visma go back to pending (only those
    waiting for a ``waiting_for`` kind, when given); returns how many."""
    replayed = 0
    for failure in rt.ledger.open_failures(rt.name):
        if (
            failure.category not in (Category.VISMA_MASTER_DATA, Category.CONNECTIVITY)
            or not failure.missing
            or not failure.document_id
        ):
            continue
        if waiting_for is not None and any(m["kind"] != waiting_for for m in failure.missing):
            continue
        if all(_present(rt, md, m["kind"], m["key"]) for m in failure.missing):
            doc_id = int(failure.document_id)
            if rt.ledger.transition(
                doc_id,
                "replayed",
                DocStatus.PENDING,
                actor="system:auto-replay",
                reason="what it waited for now exists in Visma: "
                + ", ".join(f"{m['kind']} {m['key']}" for m in failure.missing),
            ):
                rt.ledger.resolve_failures(
                    doc_id, actor="system:auto-replay", reason="master data now present"
                )
                stats.auto_replayed += 1
                replayed += 1
    return replayed


def _present(rt: Runtime, md: MasterData, kind: str, key: str) -> bool:
    if kind == SUPPLIER_DOCUMENT:  # a supplier payment waits for the invoice it pays
        return supplier_document_present(rt.ledger, rt.name, key)
    if kind == PERIOD:
        return md.period_open(key)
    if kind == AP_PERIOD:
        return md.period_open(key, supplier_ledger=True)
    if kind == SEGMENT_VALUE:
        return md.has(SEGMENT_VALUE, key)
    return md.has(kind, key)
