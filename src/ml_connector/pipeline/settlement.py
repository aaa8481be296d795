"""The facts a voucher needs beyond its own document: for a foreign invoice Stampli sent without a
rate, Visma's rate of the day; for a payment, the invoices it pays, read from the ledger.

Only documents that touch a currency other than the company's need them, and only once exchange
accounts are configured (``journal.books_in_company_currency``). An invoice's rate is the one its
voucher was sent with: Stampli's ``exchangeRate`` on the invoice, or else Visma's rate in force on its
posting date (``GET /v2/currencyrate`` through ``MasterDataReads.currency_rate``, of
``mapping.currency_rate_type``), which the voucher carries and the ledger records with it when the
document is claimed. A payment whose invoice has no rate recorded yet waits (``NotYet``) rather than
parks: it posts once the invoice has been sent.

"Earlier" is the ledger's order (a lower id), whatever state the payment is in, except those that
will never be booked (parked, skipped) and those voided: a payment posted beside another of the same
invoice computes the same facts as it would alone.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import Payment, invoice_document_key, payment_from_json
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.domain.settlement import InvoiceBooking
from ml_connector.domain.stored import StoredDocument
from ml_connector.errors import DestinationError, FatalDestinationError
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.journal import books_in_company_currency
from ml_connector.pipeline.ports import LedgerPort, MasterDataReads

NEVER_BOOKED = (DocStatus.PARKED, DocStatus.SKIPPED)
NOT_SENT_YET = (
    DocStatus.READING,
    DocStatus.PENDING,
    DocStatus.POSTING,
)  # reading: its file is not read whole


class NotYet(Exception):
    """What a voucher needs is not there yet (its invoice not sent, a rate lookup that did not
    finish): the document stays pending and is built again in the next cycle. Concludes nothing."""


@dataclass(frozen=True, slots=True)
class VoucherFacts:
    bookings: Mapping[str, InvoiceBooking] | None = None  # a payment's invoices, by Stampli invoice id
    invoice_rate: Decimal | None = None  # Visma's rate of the day for an invoice Stampli gave none


async def voucher_facts(
    ledger: LedgerPort,
    reads: MasterDataReads,
    connection: str,
    doc: StoredDocument,
    mapping: MappingConfig,
    company_currency: str | None,
) -> VoucherFacts:
    """Everything ``build_voucher`` needs beyond the document; raises ``NotYet`` to wait."""
    if doc.kind != "invoice":
        bookings = bookings_for(ledger, connection, doc, mapping, company_currency)
        for booking in (bookings or {}).values():
            if booking.rate is None and booking.waiting:
                raise NotYet(f"invoice {booking.stampli_invoice_id} has not been sent to Visma yet")
        return VoucherFacts(bookings=bookings)
    if not needs_visma_rate(doc.source, mapping, company_currency):
        return VoucherFacts()
    currency = str(doc.source["currency"])
    day = _posting_day(doc.source)
    try:
        rate = await reads.currency_rate(currency, day, rate_type=mapping.currency_rate_type)
    except FatalDestinationError:
        raise
    except DestinationError as exc:
        raise NotYet(f"Visma's {currency} rate for {day} could not be read ({exc})") from exc
    if rate is None:
        kind = f" of type {mapping.currency_rate_type}" if mapping.currency_rate_type else ""
        raise Unpostable(
            Problem(
                Category.VISMA_MASTER_DATA,
                "currency_rate_missing",
                f"Visma has no {currency} rate{kind} on or before {day} and Stampli sent none; enter "
                "the rate in Visma (or export the invoice with its rate), then replay",
            )
        )
    return VoucherFacts(invoice_rate=rate)


def needs_visma_rate(source: Mapping[str, Any], mapping: MappingConfig, company_currency: str | None) -> bool:
    """A foreign invoice without Stampli's rate, when exchange differences are booked: its payments
    need the rate it was booked at, so it is sent with Visma's rate of the day, not left to Visma."""
    if company_currency is None or source.get("exchangeRate") not in (None, ""):
        return False
    if not mapping.books_exchange_differences:
        return False
    return str(source.get("currency")) != company_currency


def _posting_day(source: Mapping[str, Any]) -> date:
    return date.fromisoformat(str(source.get("postingDate") or source["invoiceDate"]))


def recorded_rate(doc: StoredDocument) -> Decimal | None:
    """The rate an invoice was (or is being) sent with: Stampli's, else the one its stored voucher
    carries (the ledger's voucher form or, in older ledgers, Visma's request body)."""
    for value in (doc.source.get("exchangeRate"), *_voucher_rates(doc.voucher)):
        if isinstance(value, Mapping):
            value = value.get("value")
        if value not in (None, ""):
            return Decimal(str(value))
    return None


def _voucher_rates(voucher: Mapping[str, Any] | None) -> tuple[Any, ...]:
    if not voucher:
        return ()
    return (voucher.get("exchange_rate"), voucher.get("exchangeRate"))


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
        out[app.stampli_invoice_id] = InvoiceBooking(
            stampli_invoice_id=app.stampli_invoice_id,
            currency=str(doc.source.get("currency") or app.invoice_currency),
            total=Decimal(str(doc.source.get("totalAmount") or 0)),
            rate=recorded_rate(doc),
            waiting=doc.status in NOT_SENT_YET,
        )
    if not any(_partial(pay, booking) for booking in out.values()):
        return out  # each invoice settled in one go: nothing earlier to find
    before = _settled_before(ledger.all_documents(connection), connection, set(out), payment_id)
    return {iid: replace(b, settled_before=before.get(iid, Decimal(0))) for iid, b in out.items()}


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
