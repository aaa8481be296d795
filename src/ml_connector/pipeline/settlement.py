"""The facts a payment voucher needs about the invoices it pays, read from the ledger.

Only a payment that touches a currency other than the company's needs them (``pipeline/journal.py``
books it in the company currency): the rate each invoice was booked at and what earlier payments
settled of it. An invoice's rate is the one its voucher was sent with: Stampli's ``exchangeRate``
on the invoice (``invoice_voucher`` sends it as the batch rate). An invoice Stampli sent without a
rate was booked at Visma's rate of the day, which the ledger does not hold: such a payment parks.

"Earlier" is the ledger's order (a lower id), whatever state the payment is in, except those that
will never be booked (parked, skipped) and those voided: a payment posted beside another of the same
invoice computes the same facts as it would alone.
"""

from __future__ import annotations

import sys
from decimal import Decimal

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import Payment, invoice_document_key, payment_from_json
from ml_connector.domain.settlement import InvoiceBooking
from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.journal import books_in_company_currency
from ml_connector.pipeline.ports import LedgerPort

NEVER_BOOKED = (DocStatus.PARKED, DocStatus.SKIPPED)


def bookings_for(
    ledger: LedgerPort,
    connection: str,
    doc: StoredDocument,
    mapping: MappingConfig,
    company_currency: str | None,
) -> dict[str, InvoiceBooking] | None:
    """The bookings a payment (or void) needs, None when it is booked without them. A document not
    stored yet (a preview: id 0) comes after every stored one."""
    if doc.kind == "invoice" or company_currency is None:
        return None
    pay = payment_from_json(doc.source)
    if not books_in_company_currency(pay, mapping, company_currency):
        return None
    paid = doc if doc.kind == "payment" else ledger.document(connection, pay.paid_key)
    payment_id = (paid.id if paid else doc.id) or sys.maxsize
    return invoice_bookings(ledger, connection, pay, payment_id=payment_id)


def invoice_bookings(
    ledger: LedgerPort, connection: str, pay: Payment, *, payment_id: int
) -> dict[str, InvoiceBooking]:
    """By Stampli invoice id: each invoice the payment applies to that the ledger holds.
    ``payment_id`` is the ledger id of the payment itself (for a void: of the payment it reverses)."""
    out: dict[str, InvoiceBooking] = {}
    for app in pay.applications:
        key = invoice_document_key(app.stampli_invoice_id, "", "", "", "")
        doc = ledger.document(connection, key)
        if doc is None:
            continue
        rate = doc.source.get("exchangeRate")
        out[app.stampli_invoice_id] = InvoiceBooking(
            stampli_invoice_id=app.stampli_invoice_id,
            currency=str(doc.source.get("currency") or app.invoice_currency),
            total=Decimal(str(doc.source.get("totalAmount") or 0)),
            rate=Decimal(str(rate)) if rate not in (None, "") else None,
        )
    if not any(_partial(pay, booking) for booking in out.values()):
        return out  # each invoice settled in one go: nothing earlier to find
    before = _settled_before(ledger.all_documents(connection), connection, set(out), payment_id)
    return {
        iid: InvoiceBooking(b.stampli_invoice_id, b.currency, b.total, b.rate, before.get(iid, Decimal(0)))
        for iid, b in out.items()
    }


def _partial(pay: Payment, booking: InvoiceBooking) -> bool:
    settled = sum(
        (
            app.applied_amount + (app.discount_amount or Decimal(0))
            for app in pay.applications
            if app.stampli_invoice_id == booking.stampli_invoice_id
        ),
        Decimal(0),
    )
    return settled != booking.total


def _settled_before(
    docs: list[StoredDocument], connection: str, invoice_ids: set[str], payment_id: int
) -> dict[str, Decimal]:
    voided = {
        d.doc_key.removeprefix("PAYV:")
        for d in docs
        if d.kind == "payment_void" and d.status not in NEVER_BOOKED
    }
    out: dict[str, Decimal] = {}
    for d in docs:
        if d.kind != "payment" or d.id >= payment_id or d.status in NEVER_BOOKED:
            continue
        earlier = payment_from_json(d.source)
        if earlier.stampli_payment_id in voided:
            continue
        for app in earlier.applications:
            if app.stampli_invoice_id in invoice_ids:
                amount = app.applied_amount + (app.discount_amount or Decimal(0))
                out[app.stampli_invoice_id] = out.get(app.stampli_invoice_id, Decimal(0)) + amount
    return out
