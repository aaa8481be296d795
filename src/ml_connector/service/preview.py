"""``preview``: what ``run`` would do with a local export file, document by document. Writes nothing.

It makes the same decisions intake and posting make, against the same ledger and the cached master
data: a document already in the ledger with the same content is not posted again; a payment voided
before it was posted is skipped (nothing to reverse); a record that is not approved is skipped; a
voucher with a problem is parked. Each document gets one ``action`` (post, park, skip, already_read,
conflict, rejected) and the problems behind it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_connector.adapters.visma.supplier_invoices import supplier_invoice_dto
from ml_connector.adapters.visma.supplier_payments import supplier_payment_dto, void_payment_dto
from ml_connector.adapters.visma.wire import journal_dto
from ml_connector.domain.documents import Invoice, Payment
from ml_connector.domain.problems import Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.amounts import stored_amount
from ml_connector.pipeline.intake import SKIP_CODES, document_values
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.posting import build_voucher
from ml_connector.pipeline.refresh import snapshot
from ml_connector.pipeline.rules import check_voucher
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.settlement import NotYet, VoucherFacts, bookings_for
from ml_connector.pipeline.supplier_ledger import (
    check_supplier_invoice,
    supplier_invoice_voucher,
    uses_supplier_ledger,
)
from ml_connector.pipeline.supplier_payments import (
    check_supplier_payment,
    supplier_payment_void,
    supplier_payment_voucher,
    uses_supplier_payments,
)
from ml_connector.pipeline.who_pays import skip_reason
from ml_connector.service.app import App
from ml_connector.stampli.read import read_export

NOT_POSTED = DocStatus.NOT_POSTED
VOIDED_UNPOSTED = "the payment was voided in Stampli before it was posted to Visma; nothing to reverse"
PROBLEM_ACTIONS = ("park", "conflict", "rejected")


def _supplier_payment_entry(
    rt: Runtime, stored: StoredDocument, md: MasterData, entry: dict[str, Any]
) -> bool:
    """Fills ``entry`` for a document posted as a Visma supplier payment (or the VoidPayment of one):
    the payload ``POST /v1/supplierPayment`` would carry, or why it would wait or park. False when the
    document goes elsewhere (a journal transaction)."""
    try:
        if uses_supplier_payments(rt.config, stored.kind):
            payment = supplier_payment_voucher(rt.ledger, stored, md, rt.config)
            entry["payload"] = supplier_payment_dto(payment)
            entry["accounts"] = [payment.cash_account] if payment.cash_account else []
            entry["problems"] = [p.reason for p in check_supplier_payment(payment, md, rt.config)]
        elif stored.kind != "payment_void":
            return False
        elif (void := supplier_payment_void(rt.ledger, stored, md, rt.config)) is not None:
            entry["payload"] = void_payment_dto(void.payment_number, void.void_date)
        else:
            return False  # its payment was posted as a journal transaction: reversed as one
    except (Unpostable, NotYet) as exc:
        entry["problems"] = [p.reason for p in exc.problems] if isinstance(exc, Unpostable) else [str(exc)]
    entry["action"] = "park" if entry["problems"] else "post"
    return True


def preview(app: App, path: Path, connection: str | None = None) -> dict[str, Any]:
    """The exact payloads that would be sent for a local file, and what ``run`` would do with each
    document. ``problems`` counts the documents that would not post cleanly (parked, in conflict or
    rejected); the file's own read issues are in ``issues``."""
    rt = app.runtimes(connection)[0]
    result = read_export(path, remote_path=str(path), profile=rt.profile())
    md = snapshot(rt.ledger, rt.name, rt.config.visma.company_id)
    posted_here: set[str] = set()  # payments this file would post before reaching their void
    docs: list[dict[str, Any]] = []
    for doc in result.documents:
        values = document_values(doc, None)
        entry: dict[str, Any] = {
            "key": values["doc_key"],
            "reference": values["reference"],
            "kind": values["kind"],
            "vendor": values["vendor_name"] or values["vendor_id"] or "",
            "number": values["number"] or "",
            "currency": values["currency"] or "",
            "amount": stored_amount(values["amount"]),
            "accounts": [],
            "cost_centers": [],
            "problems": [],
        }
        docs.append(entry)
        existing = rt.ledger.document(rt.name, values["doc_key"])
        if existing is not None and (
            existing.content_hash == values["content_hash"] or values["kind"] == "payment_void"
        ):
            entry["action"] = "already_read"
            entry["detail"] = f"already in the ledger ({existing.status}); not posted again"
            continue
        if existing is not None and existing.status not in NOT_POSTED:
            entry["action"] = "conflict"
            entry["problems"] = [
                f"already {existing.status} in Visma with different content; never overwritten"
            ]
            continue
        skip = skip_reason(rt.config, values["kind"])
        if skip is not None:  # payments.source = "visma": read and reported, never posted
            entry["action"] = "skip"
            entry["detail"] = skip
            continue
        if values["kind"] == "payment_void" and isinstance(doc, Payment):
            original = rt.ledger.document(rt.name, f"PAY:{doc.stampli_payment_id}")
            was_posted = original is not None and original.status not in NOT_POSTED
            if not was_posted:
                entry["action"] = "skip"
                entry["detail"] = VOIDED_UNPOSTED
                continue
        stored = StoredDocument(kind=values["kind"], source=values["source"], doc_key=values["doc_key"])
        if _supplier_payment_entry(rt, stored, md, entry):  # a Visma supplier payment (or its void)
            if values["kind"] == "payment" and entry["action"] == "post":
                posted_here.add(values["doc_key"])
            continue
        supplier_ledger = uses_supplier_ledger(rt.config, stored.kind)
        try:
            if supplier_ledger:
                invoice = supplier_invoice_voucher(stored, md, rt.config)
            else:
                bookings = bookings_for(rt.ledger, rt.name, stored, rt.config.mapping, md.base_currency)
                voucher, supplier = build_voucher(stored, md, rt.config, VoucherFacts(bookings=bookings))
        except Unpostable as exc:
            entry["action"] = "park"
            entry["problems"] = [p.reason for p in exc.problems]
            continue
        # the request body the document's target would send (POST /v1/supplierInvoice or a journal)
        payload_lines = invoice.lines if supplier_ledger else voucher.lines
        entry["payload"] = supplier_invoice_dto(invoice) if supplier_ledger else journal_dto(voucher)
        entry["accounts"] = sorted({ln.account for ln in payload_lines})
        cost_center_segment = rt.config.mapping.cost_center_segment_id
        entry["cost_centers"] = sorted(
            {s.value for ln in payload_lines for s in ln.subaccount if s.segment_id == cost_center_segment}
        )
        if not md.accounts:
            entry["problems"] = ["master data not cached yet: run `ml-connector run` or `check` first"]
        elif supplier_ledger:
            entry["problems"] = [p.reason for p in check_supplier_invoice(invoice, md, rt.config)]
        else:
            entry["problems"] = [
                p.reason for p in check_voucher(voucher, md, rt.config.mapping, supplier=supplier)
            ]
        entry["action"] = "park" if entry["problems"] else "post"
        if values["kind"] == "payment":
            posted_here.add(values["doc_key"])
    _voids_in_same_file(docs, posted_here)
    for rec in result.rejected:
        codes = {i.code for i in rec.issues if i.level == "error"} or {i.code for i in rec.issues}
        skipped = bool(codes) and codes <= SKIP_CODES
        reason = "; ".join(i.message for i in rec.issues)
        docs.append(
            {
                "key": rec.key or "",
                "reference": "",
                "kind": str(rec.kind),
                "vendor": "",
                "number": "",
                "currency": "",
                "amount": "",
                "accounts": [],
                "cost_centers": [],
                "action": "skip" if skipped else "rejected",
                "detail": reason if skipped else "",
                "problems": [] if skipped else [reason],
            }
        )
    return {
        "file": str(path),
        "kind": result.kind,
        "status": result.status,
        "invoices": sum(isinstance(d, Invoice) for d in result.documents),
        "problems": sum(1 for d in docs if d["action"] in PROBLEM_ACTIONS),
        "documents": docs,
        "issues": [i.as_dict() for i in result.issues],
    }


def _voids_in_same_file(docs: list[dict[str, Any]], posted_here: set[str]) -> None:
    """A payment and its void in the same file: intake reads the payment as new, then the void
    finds it not yet posted, so both are skipped (exactly what ``run`` does)."""
    voided = {d["key"].replace("PAYV:", "PAY:", 1) for d in docs if d["kind"] == "payment_void"}
    for d in docs:
        if d["key"] in voided and d["key"] in posted_here:
            d["action"] = "skip"
            d["detail"] = VOIDED_UNPOSTED
            d["problems"] = []
