"""Never twice in the supplier ledger: before a first create, and to settle an unknown outcome.

Visma only warns on a repeated supplier reference and stores the document, and the same supplier
invoice can also reach Visma through another channel (an e-invoice through AutoInvoice). No list
filters by ``supplierReference``, so once per cycle, the documents of every supplier that has
pending supplier invoices or unknown creates are read in a document-date window around that
supplier's documents: in one listing of every supplier's documents across the windows when that
takes fewer reads than one per supplier (``SupplierInvoiceLookup.existing_of_suppliers``), else one
paged read per supplier (``SupplierInvoiceLookup.existing``). That answers all of their documents:

- a document of the same type with the same supplier reference whose description carries our
  reference (``ST-…``, which every supplier invoice we create starts with) is **ours**: a pending
  document is adopted (``found_in_visma``, as journal mode does with a fresh ledger), an unknown
  create is settled as found; never sent again;
- the same supplier reference without our reference is **another channel's**: the pending document
  is parked ``duplicate_in_visma`` naming Visma's document, for a person to decide;
- nothing: the pending document posts; an unknown create is settled as not found (safe to post).

A read that does not finish concludes nothing (``LookupIncomplete``: nothing is posted this cycle,
and unknown creates stay unknown). Numbers are ``{documentType}/{number}``: a credit note is read
back through the path that names its type (the short path only serves ``Invoice``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from ml_connector.domain.booked import Booked
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.voucher_codec import SUPPLIER_INVOICE, decode_voucher, encode_voucher
from ml_connector.errors import AmbiguousDestinationError, RetriableDestinationError
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.booked import LookupIncomplete
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import SupplierInvoiceLookup, VismaPort
from ml_connector.pipeline.posting import (
    PostingStats,
    finish_created,
    settle_document,
    status_when_found,
    supplier_target,
    unknown_to_settle,
)
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.supplier_ledger import supplier_invoice_voucher, uses_supplier_ledger

log = logging.getLogger("ml_connector.supplier_booked")

# The window around a supplier's document dates that the read covers: another channel may date the
# same invoice a little differently (received date, a corrected date).
DATE_MARGIN = timedelta(days=45)


@dataclass(frozen=True)
class Planned:
    row: StoredDocument
    voucher: SupplierInvoiceVoucher


def same_reference(a: str | None, b: str | None) -> bool:
    """Supplier invoice numbers compared as people write them: case and surrounding spaces ignored."""
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def is_ours(found: Booked, voucher: SupplierInvoiceVoucher) -> bool:
    """A document we created: our reference (``ST-…``) opens its description, as
    ``supplier_ledger.invoice_to_supplier_invoice`` writes it."""
    ref = (voucher.description or "").split(" ", 1)[0]
    return bool(ref) and (found.description or "").split(" ", 1)[0] == ref


def matches(found: list[Booked], voucher: SupplierInvoiceVoucher) -> list[Booked]:
    """The supplier's documents of the same type with the voucher's supplier reference."""
    return sorted(
        (
            b
            for b in found
            if b.number.partition("/")[0] == voucher.document_type
            and same_reference(b.supplier_reference, voucher.supplier_reference)
        ),
        key=lambda b: b.number,
    )


async def read_suppliers(
    target: SupplierInvoiceLookup, vouchers: list[SupplierInvoiceVoucher]
) -> dict[str, list[Booked]]:
    """Each supplier's documents in a window around its vouchers' document dates; raises
    LookupIncomplete when any read fails (nothing is concluded from a partial answer).

    Several suppliers are read in one listing of every supplier's documents across their windows
    when that takes fewer reads than one per supplier (the listing's first page says how many it
    needs); otherwise, and for a single supplier, one paged read per supplier."""
    days: dict[str, list[date]] = defaultdict(list)
    for v in vouchers:
        days[v.supplier].append(v.document_date)
    windows = {s: (min(d) - DATE_MARGIN, max(d) + DATE_MARGIN) for s, d in sorted(days.items())}
    supplier = "(every supplier)"
    try:
        if len(windows) > 1:
            together = await target.existing_of_suppliers(windows, most_reads=len(windows) - 1)
            if together is not None:
                return together
        out: dict[str, list[Booked]] = {}
        for supplier, (date_from, date_to) in windows.items():
            out[supplier] = await target.existing(supplier, date_from=date_from, date_to=date_to)
    except (RetriableDestinationError, AmbiguousDestinationError) as exc:
        raise LookupIncomplete(f"supplier invoices of supplier {supplier}: {exc}") from exc
    return out


def plan(rt: Runtime, md: MasterData) -> list[Planned]:
    out = []
    for row in rt.ledger.documents_with_status(rt.name, [DocStatus.PENDING]):
        if not uses_supplier_ledger(rt.config, row.kind):
            continue
        try:
            out.append(Planned(row, supplier_invoice_voucher(row, md, rt.config)))
        except Unpostable:
            continue  # posting parks it, with the reason
    return out


async def adopt_or_hold(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    """Before any first create of the cycle: adopt our own documents already in Visma, park another
    channel's as ``duplicate_in_visma``; raises LookupIncomplete (then nothing is posted)."""
    planned = plan(rt, md)
    if not planned:
        return
    target = supplier_target(visma)
    found = await read_suppliers(target, [p.voucher for p in planned])
    for p in planned:
        same = matches(found.get(p.voucher.supplier, []), p.voucher)
        if not same:
            continue
        ours = [b for b in same if is_ours(b, p.voucher)]
        if ours:
            await _adopt(rt, visma, p, ours, stats)
        else:
            _hold(rt, p, same, stats)


async def _adopt(rt: Runtime, visma: VismaPort, p: Planned, ours: list[Booked], stats: PostingStats) -> None:
    first = ours[0]
    if len(ours) > 1:
        stats.duplicates_found += len(ours) - 1
        log.error(
            "supplier reference %s found in %d of our Visma documents",
            p.voucher.supplier_reference,
            len(ours),
        )
    target = status_when_found(rt, first.status)
    if not rt.ledger.transition(
        p.row.id,
        "found_in_visma",  # booked.FOUND_IN_VISMA: the same event as a journal adoption
        target,
        actor=rt.actor,
        reason=f"supplier invoice {p.voucher.supplier_reference} found in Visma as {first.number} "
        f"({first.status}): found in Visma, not sent again",
        details={"documents": [b.number for b in ours]},
        batch_number=first.number,
        voucher=encode_voucher(p.voucher),
        period=first.financial_period or p.voucher.financial_period,
        etag=None,
    ):
        return  # another worker moved it meanwhile
    stats.already_in_visma += 1
    if target == DocStatus.CREATED:  # on hold from an earlier ledger: release it as it would have
        await finish_created(rt, visma, rt.ledger.document_by_id(p.row.id), stats)


def _hold(rt: Runtime, p: Planned, same: list[Booked], stats: PostingStats) -> None:
    names = ", ".join(f"{b.number} (amount {b.amount}, {b.status})" for b in same)
    problem = Problem(
        Category.SOURCE_DATA,
        "duplicate_in_visma",
        f"Visma already holds supplier {p.voucher.supplier}'s document with supplier reference "
        f"{p.voucher.supplier_reference}: {names}, not created by ml-connector (another channel, e.g. an "
        f"e-invoice); ours would be {p.voucher.total} {p.voucher.currency}. Not sent: decide in Visma "
        "which one stands, then set this one aside (or replay it to post it anyway)",
    )
    rt.ledger.park(
        p.row.id,
        "duplicate_in_visma",
        category=problem.category,
        code=problem.code,
        reason=problem.reason,
        actor=rt.actor,
        visma_answer=names,
    )
    stats.parked += 1
    stats.duplicates_in_visma += 1


async def settle_supplier_ledger(rt: Runtime, visma: VismaPort, stats: PostingStats) -> None:
    """Unknown creates of supplier invoices: found (ours, by our reference) -> created or posted;
    not found -> pending. A failed read leaves them unknown until the next cycle. Runs right after
    ``posting.settle`` (which settles the journal transactions)."""
    rows = [r for r in unknown_to_settle(rt) if is_supplier_invoice(r)]
    if not rows:
        return
    decoded = [(row, decode_voucher(row.voucher or {})) for row in rows]
    vouchers = [(row, v) for row, v in decoded if isinstance(v, SupplierInvoiceVoucher)]
    try:
        found = await read_suppliers(supplier_target(visma), [v for _, v in vouchers])
    except LookupIncomplete as exc:
        log.warning("unknown supplier invoices stay unknown: %s", exc)
        return
    for row, voucher in vouchers:
        ours = [b for b in matches(found.get(voucher.supplier, []), voucher) if is_ours(b, voucher)]
        what = f"supplier invoice {voucher.supplier_reference} of supplier {voucher.supplier}"
        await settle_document(rt, visma, row, ours, supplier_target(visma), what, stats)


def is_supplier_invoice(row: StoredDocument) -> bool:
    return (row.voucher or {}).get("kind") == SUPPLIER_INVOICE
