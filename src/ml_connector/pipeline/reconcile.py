"""Reconciliation: what Stampli approved (the ledger) against what Visma holds, per document.

Every amount is the document's amount (``pipeline/amounts.py``), the number the dashboard and the API
show for the same document; the CSV's cells are neutralised against spreadsheet formulas exactly as
the vendor export's are (``csv_cells.neutralise``).

One listing of the period's journal transactions (pages read once) answers every document; no
per-document calls. Invoices posted to the supplier ledger (``posting.target = "supplier_invoice"``)
are compared with the supplier's documents instead (one read per supplier, as before a create:
``pipeline/supplier_booked.py``): our document found by our reference, its total with VAT against
Stampli's, its release status and its version stamp (a stamp moved by one of our payments'
applications is not an edit). Supplier payments and their voids are found by the lookup that
precedes any resend (``pipeline/supplier_payment_booked.py``) and compared by amount. Outcomes:

    matched            posted, found once, same amount, unchanged since we posted
    missing_in_visma   we posted it, Visma has no line with its reference
    duplicate_in_visma its reference is on more than one batch
    amount_difference  found, but the booked total differs from what we sent
    changed_in_visma   found with the same amount, but edited in Visma since (its timeStamp moved)
    not_posted         approved in Stampli, parked or waiting (see ``failures``)
    skipped            never to be posted, with the reason: not approved, or voided before it was posted
    unknown_in_ledger  a batch carries one of our references but the ledger has no such document
    already_in_visma   found once with the same amount, booked before this ledger sent it (an
                       earlier or lost ledger posted it); adopted, never sent again
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from decimal import Decimal

from ml_connector.csv_cells import neutralise
from ml_connector.domain.booked import Booked
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.domain.voucher_codec import decode_voucher, is_encoded
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.amounts import (
    Posting,
    booked_amount,
    counter_account,
    sent_postings,
    stored_amount,
)
from ml_connector.pipeline.booked import FOUND_IN_VISMA, LookupIncomplete
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import RELEASED, by_reference, payments_target, supplier_target
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.supplier_booked import is_ours, is_supplier_invoice, matches, read_suppliers
from ml_connector.pipeline.supplier_ledger import uses_supplier_ledger
from ml_connector.pipeline.supplier_payment_booked import is_supplier_payment, ours_in_visma
from ml_connector.pipeline.supplier_payments import uses_supplier_payments

OUTCOMES = (
    "matched",
    "missing_in_visma",
    "duplicate_in_visma",
    "amount_difference",
    "changed_in_visma",
    "not_posted",
    "unknown_in_ledger",
    "skipped",
    "already_in_visma",
)
OUR_PREFIXES = ("ST-", "SP-", "SPV-")


@dataclass(frozen=True)
class ReconRow:
    doc_key: str
    outcome: str
    status: str
    reference: str
    vendor: str
    number: str
    currency: str
    amount: str  # the document's amount as Stampli states it (the ledger's, shown by every view)
    sent_total: str
    visma_total: str
    batch_number: str
    detail: str


def _tag(value: str | None) -> str:
    if not value:
        return ""
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    return v.strip('"')


def _visma_postings(batches: list[Booked], reference: str) -> list[Posting]:
    return [
        Posting(ln.account, ln.debit, ln.credit)
        for j in batches
        for ln in j.lines
        if ln.reference == reference
    ]


def _debits(lines: list[Posting]) -> Decimal:
    return sum((ln.debit for ln in lines), Decimal(0))


def _skip_reason(rt: Runtime, doc_key: str) -> str:
    """Why a document was skipped: the reason of its latest audit entry that gives one."""
    reasons = [str(e.reason) for e in rt.ledger.audit_trail("document", doc_key) if e.reason]
    return reasons[-1] if reasons else "skipped"


def period_key(period: str) -> str:
    """``2025-03`` or ``202503`` -> ``202503``."""
    digits = period.replace("-", "")
    if len(digits) != 6 or not digits.isdigit():
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    return digits


async def reconcile(rt: Runtime, visma: VismaPort, period: str) -> list[ReconRow]:
    p = period_key(period)
    index = by_reference(await visma.booked.journals(period=p))
    rows: list[ReconRow] = []
    ours: set[str] = set()
    adopted = rt.ledger.keys_with_action(rt.name, FOUND_IN_VISMA)
    in_supplier_ledger: list[StoredDocument] = []
    supplier_payments: list[StoredDocument] = []
    for doc in rt.ledger.all_documents(rt.name):
        doc_period = doc.period or (doc.document_date.strftime("%Y%m") if doc.document_date else None)
        if doc_period != p:
            continue
        if uses_supplier_ledger(rt.config, doc.kind) or is_supplier_invoice(doc):
            in_supplier_ledger.append(doc)  # compared with the supplier's documents below
            continue
        if uses_supplier_payments(rt.config, doc.kind) or is_supplier_payment(doc):
            supplier_payments.append(doc)  # compared with the supplier's payments below
            continue
        ref = str(doc.reference)
        ours.add(ref)
        found = index.get(ref, [])
        sent_lines = sent_postings(doc.voucher)
        counter = counter_account(sent_lines)
        sent = booked_amount(doc.kind, sent_lines, counter) if counter else Decimal(0)
        base = {
            "doc_key": doc.doc_key,
            "status": doc.status,
            "reference": ref,
            "vendor": doc.vendor_name or doc.vendor_id or "",
            "number": doc.number or "",
            "currency": doc.currency or "",
            "amount": stored_amount(doc.amount),
            "sent_total": str(sent) if doc.voucher else "",
            "batch_number": doc.batch_number or "",
        }
        if doc.status == DocStatus.SKIPPED:
            reason = _skip_reason(rt, str(doc.doc_key))
            rows.append(ReconRow(**base, outcome="skipped", visma_total="", detail=reason))
            continue
        if doc.status not in (DocStatus.POSTED, DocStatus.CREATED):
            detail = f"status {doc.status}"
            if found:  # an unknown outcome not settled yet, but Visma already has it
                detail += f"; already in Visma batch {found[0].number}, settled in the next cycle"
            rows.append(ReconRow(**base, outcome="not_posted", visma_total="", detail=detail))
            continue
        if not found:
            rows.append(
                ReconRow(
                    **base, outcome="missing_in_visma", visma_total="", detail="no line carries the reference"
                )
            )
            continue
        batches = sorted({j.number: j for j in found}.values(), key=lambda j: j.number)
        held = _visma_postings(batches, ref)
        booked = booked_amount(doc.kind, held, counter) if counter else Decimal(0)
        if len(batches) > 1:
            outcome, detail = "duplicate_in_visma", "batches " + ", ".join(j.number for j in batches)
        elif booked != sent:
            outcome, detail = "amount_difference", f"sent {sent}, Visma holds {booked}"
        elif _debits(held) != _debits(sent_lines):
            outcome = "amount_difference"
            detail = (
                f"same amount, but the lines differ: sent debits {_debits(sent_lines)}, Visma {_debits(held)}"
            )
        elif doc.etag and batches[0].timestamp and _tag(doc.etag) != _tag(batches[0].timestamp):
            outcome, detail = "changed_in_visma", "the batch was edited in Visma after it was posted"
        elif doc.doc_key in adopted:
            outcome, detail = "already_in_visma", "found in Visma before a first create, not sent again"
        else:
            outcome, detail = "matched", ""
        rows.append(ReconRow(**base, outcome=outcome, visma_total=str(booked), detail=detail))
    # Applying a payment moves its documents' version stamps: that is not an edit in Visma.
    paid = paid_documents(rt.ledger.all_documents(rt.name))
    rows += await _supplier_ledger_rows(rt, visma, in_supplier_ledger, adopted, paid)
    rows += await _supplier_payment_rows(rt, visma, supplier_payments, adopted)
    for ref, batches in sorted(index.items()):
        if ref.startswith(OUR_PREFIXES) and ref not in ours:
            rows.append(
                ReconRow(
                    doc_key="",
                    outcome="unknown_in_ledger",
                    status="",
                    reference=ref,
                    vendor="",
                    number="",
                    currency=batches[0].currency or "",
                    amount="",
                    sent_total="",
                    visma_total=str(_debits(_visma_postings(batches, ref))),
                    batch_number=", ".join(j.number for j in batches),
                    detail="a batch carries our reference but the ledger has no such document",
                )
            )
    return rows


async def _supplier_ledger_rows(
    rt: Runtime, visma: VismaPort, docs: list[StoredDocument], adopted: set[str], paid: set[str]
) -> list[ReconRow]:
    """Invoices of the supplier-ledger target against the supplier's documents in Visma (one read per
    supplier): supplier, supplier reference, amount with VAT, release status, changed since posted."""
    vouchers: dict[int, SupplierInvoiceVoucher] = {}
    for doc in docs:
        stored = decode_voucher(doc.voucher or {}) if is_encoded(doc.voucher) else None
        if isinstance(stored, SupplierInvoiceVoucher):
            vouchers[doc.id] = stored
    found: dict[str, list[Booked]] = {}
    if vouchers:
        try:
            found = await read_suppliers(supplier_target(visma), list(vouchers.values()))
        except LookupIncomplete as exc:  # report Visma's own error, as a failed journal listing does
            raise exc.__cause__ or exc from None
    rows = []
    for doc in docs:
        voucher = vouchers.get(doc.id)
        base = _base(doc, str(voucher.total) if voucher else "")
        if voucher is None or doc.status not in (DocStatus.POSTED, DocStatus.CREATED):
            rows.append(_unsent(rt, doc, base))
            continue
        ours = [b for b in matches(found.get(voucher.supplier, []), voucher) if is_ours(b, voucher)]
        if not ours:
            detail = f"no supplier document of {voucher.supplier} with reference {voucher.supplier_reference}"
            rows.append(ReconRow(**base, outcome="missing_in_visma", visma_total="", detail=detail))
            continue
        first = ours[0]
        held = first.amount if first.amount is not None else Decimal(0)
        state = f"{first.number} {first.status}"
        if len(ours) > 1:
            outcome, detail = "duplicate_in_visma", "documents " + ", ".join(b.number for b in ours)
        elif held != voucher.total:
            outcome, detail = "amount_difference", f"sent {voucher.total}, Visma holds {held} ({state})"
        elif (
            doc.etag
            and first.timestamp
            and _tag(doc.etag) != _tag(first.timestamp)
            and first.number not in paid
        ):
            outcome = "changed_in_visma"
            detail = f"the supplier invoice was edited in Visma after it was posted ({state})"
        elif doc.doc_key in adopted:
            outcome, detail = (
                "already_in_visma",
                f"found in Visma before a first create, not sent again ({state})",
            )
        else:
            released = first.status in RELEASED
            outcome = "matched"
            detail = state if released or not rt.config.posting.release else f"{state}: not released yet"
        rows.append(ReconRow(**base, outcome=outcome, visma_total=str(held), detail=detail))
    return rows


def _base(doc: StoredDocument, sent_total: str) -> dict[str, str]:
    """A supplier-ledger row's columns from the ledger (the outcome, Visma's total and detail apart)."""
    return {
        "doc_key": doc.doc_key,
        "status": doc.status,
        "reference": str(doc.reference),
        "vendor": doc.vendor_name or doc.vendor_id or "",
        "number": doc.number or "",
        "currency": doc.currency or "",
        "amount": stored_amount(doc.amount),
        "sent_total": sent_total,
        "batch_number": doc.batch_number or "",
    }


def _unsent(rt: Runtime, doc: StoredDocument, base: dict[str, str]) -> ReconRow:
    """The row of a document that is not in Visma by design (skipped) or not yet (not posted)."""
    if doc.status == DocStatus.SKIPPED:
        return ReconRow(**base, outcome="skipped", visma_total="", detail=_skip_reason(rt, str(doc.doc_key)))
    return ReconRow(**base, outcome="not_posted", visma_total="", detail=f"status {doc.status}")


def paid_documents(docs: list[StoredDocument]) -> set[str]:
    """The supplier documents (``Invoice/000123``) our recorded supplier payments apply to."""
    out: set[str] = set()
    for doc in docs:
        stored = decode_voucher(doc.voucher or {}) if is_supplier_payment(doc) else None
        if isinstance(stored, SupplierPaymentVoucher):
            out.update(f"{a.document_type}/{a.document_number}" for a in stored.applications)
    return out


async def _supplier_payment_rows(
    rt: Runtime, visma: VismaPort, docs: list[StoredDocument], adopted: set[str]
) -> list[ReconRow]:
    """Supplier payments (and their voids) against Visma's: found by the lookup that precedes any
    resend (supplier, date, our paymentRef; a void, the VoidPayment of its payment), the amount
    against ours. A payment voided by our VoidPayment is ``Voided`` in Visma: still matched."""
    rows = []
    for doc in docs:
        stored = decode_voucher(doc.voucher or {}) if is_supplier_payment(doc) else None
        voucher = stored if isinstance(stored, SupplierPaymentVoucher | SupplierPaymentVoid) else None
        base = _base(doc, str(voucher.amount) if voucher else "")
        if voucher is None or doc.status not in (DocStatus.POSTED, DocStatus.CREATED):
            rows.append(_unsent(rt, doc, base))
            continue
        try:
            ours = await ours_in_visma(payments_target(visma), voucher)
        except LookupIncomplete as exc:  # report Visma's own error, as a failed journal listing does
            raise exc.__cause__ or exc from None
        if not ours:
            detail = f"no supplier payment of {voucher.supplier} for {voucher.reference}"
            rows.append(ReconRow(**base, outcome="missing_in_visma", visma_total="", detail=detail))
            continue
        first = ours[0]
        held = abs(first.amount) if first.amount is not None else Decimal(0)  # a void's is negative
        state = f"{first.number} {first.status}"
        if len(ours) > 1:
            outcome, detail = "duplicate_in_visma", "payments " + ", ".join(b.number for b in ours)
        elif held != voucher.amount:
            outcome, detail = "amount_difference", f"sent {voucher.amount}, Visma holds {held} ({state})"
        elif doc.doc_key in adopted:
            outcome, detail = (
                "already_in_visma",
                f"found in Visma before a first create, not sent again ({state})",
            )
        else:
            outcome, detail = "matched", state
        rows.append(ReconRow(**base, outcome=outcome, visma_total=str(held), detail=detail))
    return rows


def totals(rows: list[ReconRow]) -> dict[str, int]:
    out = dict.fromkeys(OUTCOMES, 0)
    for r in rows:
        out[r.outcome] += 1
    return out


def to_csv(rows: list[ReconRow]) -> str:
    buf = io.StringIO()
    fields = list(ReconRow.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: neutralise(str(v)) for k, v in asdict(r).items()})
    return buf.getvalue()


def to_json(rows: list[ReconRow]) -> str:
    return json.dumps({"totals": totals(rows), "documents": [asdict(r) for r in rows]}, ensure_ascii=False)
