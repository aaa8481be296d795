"""The pipeline's Visma port over the client: wire records in, domain types out.

``VismaPorts`` answers the master-data reads and the booked lookup; ``JournalTarget`` is the
posting side as journal transactions (``POST /v2/journaltransaction`` + release);
``SupplierInvoiceTarget`` posts to the supplier ledger (``POST /v1/supplierInvoice`` + release) for a
connection whose ``posting.target`` is ``supplier_invoice`` (chosen in ``ml_connector.wiring``).
``SupplierPaymentTarget`` posts the payments that settle them (``POST /v1/supplierPayment`` + release,
voided by a ``VoidPayment``), for the pipeline's payment side in supplier-ledger mode.
The client already hands out aware UTC times (``models.in_utc``); nothing here converts again.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

from ml_connector.adapters.visma import models
from ml_connector.adapters.visma.client import VismaClient, dated_within
from ml_connector.adapters.visma.supplier_invoices import (
    AttachmentInfo,
    SupplierInvoiceRecord,
)
from ml_connector.adapters.visma.supplier_payments import SupplierPaymentRecord
from ml_connector.adapters.visma.upload import Upload
from ml_connector.domain.booked import Attached, Booked, BookedLine, Created
from ml_connector.domain.journal import Voucher
from ml_connector.domain.masterdata import Account, Currency, Period, Segment, SegmentValue, Supplier
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher


def account(a: models.Account) -> Account:
    return Account(
        number=a.number,
        description=a.description,
        type=a.type,
        active=a.active,
        allow_manual_entry=a.allow_manual_entry,
        control_account_module=a.control_account_module,
        last_modified=a.last_modified,
        currency=a.currency,
    )


def segment_value(v: models.SegmentValue) -> SegmentValue:
    return SegmentValue(segment_id=v.segment_id, value=v.value, description=v.description, active=v.active)


def segment(s: models.Segment) -> Segment:
    return Segment(
        segment_id=s.segment_id, values=tuple(segment_value(v) for v in s.values), description=s.description
    )


def supplier(s: models.Supplier) -> Supplier:
    return Supplier(
        number=s.number,
        name=s.name,
        status=s.status,
        currency_id=s.currency_id,
        last_modified=s.last_modified,
    )


def period(p: models.FinancialPeriod) -> Period:
    return Period(
        period=p.period,
        active=p.active,
        closed_in_gl=p.closed_in_gl,
        start_date=p.start_date,
        closed_in_ap=p.closed_in_ap,
    )


def booked(j: models.JournalTransaction) -> Booked:
    return Booked(
        number=j.batch_number,
        status=j.status,
        financial_period=j.financial_period,
        currency=j.currency,
        lines=tuple(BookedLine(ln.account, ln.debit, ln.credit, ln.reference) for ln in j.lines),
        last_modified=j.last_modified,
        timestamp=j.timestamp,
        etag=j.etag,
    )


def upload(name: str, content: bytes) -> Upload:
    """The multipart file part: the content type by the file's extension (PDF when unknown)."""
    guessed, _ = mimetypes.guess_type(name)
    return Upload(filename=name, data=content, content_type=guessed or "application/pdf")


def attached(info: AttachmentInfo) -> Attached:
    return Attached(name=info.name, attachment_id=info.attachment_id, revision=info.revision, etag=info.etag)


class JournalTarget:
    """Posting as one journal transaction per voucher (the ``PostingTarget`` of today)."""

    def __init__(self, client: VismaClient) -> None:
        self.client = client

    async def create(self, voucher: Voucher) -> Created:
        c = await self.client.create_journal(voucher)
        return Created(number=c.batch_number, etag=c.etag, location=c.location)

    async def release(self, number: str, etag: str | None) -> str | None:
        return await self.client.release_journal(number, etag)

    async def attach(self, number: str, name: str, content: bytes) -> Attached:
        return attached(await self.client.attach_to_journal(number, upload(name, content)))

    async def get(self, number: str) -> Booked:
        return booked(await self.client.get_journal(number))


def booked_supplier_invoice(r: SupplierInvoiceRecord) -> Booked:
    """A supplier invoice as the pipeline sees a booked voucher: its number is ``{documentType}/{number}``
    (the number alone is not unique across document types); each line is a cost on its account (a
    DebitAdj's costs are credits), referenced by the supplier's invoice number."""
    credit_note = r.document_type == "DebitAdj"
    lines = tuple(
        BookedLine(
            ln.account,
            Decimal(0) if credit_note else ln.cost or Decimal(0),
            ln.cost or Decimal(0) if credit_note else Decimal(0),
            r.supplier_reference,
        )
        for ln in r.lines
    )
    return _booked_document(
        r,
        lines,
        supplier=r.supplier,
        supplier_reference=r.supplier_reference,
        description=r.description,
        amount=r.amount,
    )


def _booked_document(
    r: SupplierInvoiceRecord | SupplierPaymentRecord, lines: tuple[BookedLine, ...], **extra: Any
) -> Booked:
    """A supplier-ledger document as a ``Booked``: numbered ``{type}/{number}``, its header as read."""
    return Booked(
        number=r.key,
        status=r.status,
        financial_period=r.financial_period,
        currency=r.currency,
        lines=lines,
        last_modified=r.last_modified,
        timestamp=r.timestamp,
        etag=r.etag,
        **extra,
    )


def _split_key(number: str) -> tuple[str, str]:
    document_type, sep, doc_number = number.partition("/")
    if not sep or not document_type or not doc_number:
        raise ValueError(f"a supplier-ledger number is '{{type}}/{{number}}', got {number!r}")
    return document_type, doc_number


class SupplierInvoiceTarget:
    """Posting as one supplier invoice per voucher (``POST /v1/supplierInvoice`` + release).

    The same four calls as ``JournalTarget`` over a ``SupplierInvoiceVoucher``; numbers it hands out
    and takes are ``{documentType}/{number}`` (``Invoice/000123``, ``DebitAdj/000124``)."""

    def __init__(self, client: VismaClient) -> None:
        self.client = client

    async def create(self, voucher: SupplierInvoiceVoucher) -> Created:
        c = await self.client.create_supplier_invoice(voucher)
        return Created(number=c.key, etag=c.etag, location=c.location)

    async def release(self, number: str, etag: str | None) -> str | None:
        return await self.client.release_supplier_invoice(*_split_key(number), etag)

    async def attach(self, number: str, name: str, content: bytes) -> Attached:
        info = await self.client.attach_to_supplier_invoice(*_split_key(number), upload(name, content))
        return attached(info)

    async def get(self, number: str) -> Booked:
        return booked_supplier_invoice(await self.client.get_supplier_invoice(*_split_key(number)))

    async def existing(
        self, supplier: str, *, date_from: date | None = None, date_to: date | None = None
    ) -> list[Booked]:
        """The supplier's documents in a document-date window, complete or an error: the
        'never twice across channels' check compares their references (supplier invoice numbers)."""
        found = await self.client.supplier_invoices(supplier, date_from=date_from, date_to=date_to)
        return [booked_supplier_invoice(r) for r in found]

    async def existing_of_suppliers(
        self, windows: Mapping[str, tuple[date, date]], *, most_reads: int
    ) -> dict[str, list[Booked]] | None:
        """``existing`` for each supplier of ``windows`` (its document-date window) from one listing
        of every supplier's documents across the windows, complete or an error; None when that
        listing would take more than ``most_reads`` reads."""
        found = await self.client.supplier_invoices_dated(
            date_from=min(a for a, _ in windows.values()),
            date_to=max(b for _, b in windows.values()),
            most_reads=most_reads,
        )
        if found is None:
            return None
        out: dict[str, list[Booked]] = {supplier: [] for supplier in windows}
        for r in found:
            window = windows.get(r.supplier or "")
            if window is not None and dated_within(r.document_date, *window):
                out[r.supplier or ""].append(booked_supplier_invoice(r))
        return out


def booked_supplier_payment(r: SupplierPaymentRecord) -> Booked:
    """A supplier payment as the pipeline sees a booked voucher: its number is ``{type}/{number}`` (a
    VoidPayment shares its original's number); one line per application, whose ``account`` is the
    document it settles (``Invoice/000123``): paying an invoice debits what is owed, using up a
    credit note (DebitAdj) credits it. Every line carries our reference (the payment's paymentRef)."""
    lines = tuple(
        BookedLine(
            f"{ln.document_type}/{ln.document_number}",
            Decimal(0) if ln.document_type == "DebitAdj" else abs(ln.amount_paid or Decimal(0)),
            abs(ln.amount_paid or Decimal(0)) if ln.document_type == "DebitAdj" else Decimal(0),
            r.payment_ref,
        )
        for ln in r.lines
    )
    return _booked_document(r, lines, supplier=r.supplier, description=r.payment_ref, amount=r.amount)


class SupplierPaymentTarget:
    """Supplier payments (``POST /v1/supplierPayment`` + release), the payment side of the supplier
    ledger, shaped like ``SupplierInvoiceTarget``. Numbers are ``{type}/{number}``: ``Payment/000007``,
    and ``VoidPayment/000007`` for its void (Visma has no void action; the spec's way is a VoidPayment
    document with the original's number, released like a payment)."""

    def __init__(self, client: VismaClient) -> None:
        self.client = client

    async def create(self, voucher: SupplierPaymentVoucher | SupplierPaymentVoid) -> Created:
        if isinstance(voucher, SupplierPaymentVoid):
            return await self.void(voucher.payment, voucher.void_date)
        c = await self.client.create_supplier_payment(voucher)
        return Created(number=c.key, etag=c.etag, location=c.location)

    async def release(self, number: str, etag: str | None) -> str | None:
        return await self.client.release_supplier_payment(*_split_key(number), etag)

    async def get(self, number: str) -> Booked:
        return booked_supplier_payment(await self.client.get_supplier_payment(*_split_key(number)))

    async def void(self, number: str, day: date | None = None) -> Created:
        """The VoidPayment of released payment ``Payment/{n}``; release it with ``release`` of the
        number this returns. Whether a void exists is ``get("VoidPayment/{n}")`` (404: it does not)."""
        payment_type, payment_number = _split_key(number)
        if payment_type != "Payment":
            raise ValueError(f"only a Payment is voided, not {number!r}")
        c = await self.client.void_supplier_payment(payment_number, day)
        return Created(number=c.key, etag=c.etag, location=c.location)

    async def existing(self, supplier: str, day: date, reference: str) -> list[Booked]:
        """Our payments already in Visma: the supplier's on ``day`` whose paymentRef is ``reference``
        (complete or an error; the lookup before any resend)."""
        found = await self.client.find_supplier_payments(supplier, day, reference)
        return [booked_supplier_payment(r) for r in found]

    async def voids(self, supplier: str, day: date, payment: str) -> list[Booked]:
        """The VoidPayments of ``payment`` (``Payment/{n}``) dated ``day``: the supplier's voids of
        that day with the original's number (complete or an error; the lookup before a resend)."""
        number = _split_key(payment)[1]
        found = await self.client.supplier_payments(
            supplier, date_from=day, date_to=day, payment_type="VoidPayment"
        )
        return [booked_supplier_payment(r) for r in found if r.number == number]


class VismaPorts:
    """The ``VismaPort`` of one client; closing it closes the client."""

    def __init__(self, client: VismaClient, *, supplier_ledger: bool = False) -> None:
        """``supplier_ledger``: the connection posts invoices as supplier invoices
        (``posting.target = "supplier_invoice"``, chosen in ``ml_connector.wiring``)."""
        self.client = client
        self._posting = JournalTarget(client)
        self._supplier_ledger = SupplierInvoiceTarget(client) if supplier_ledger else None
        self._supplier_payments = SupplierPaymentTarget(client) if supplier_ledger else None
        # One read per currency, day and rate type while these ports are open (a cycle): the invoices
        # of one day share their rate. Only answers are kept; an error is raised each time.
        self._rates: dict[tuple[str, date, str | None], Decimal | None] = {}

    async def __aenter__(self) -> VismaPorts:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.client.__aexit__(et, e, tb)

    @property
    def masterdata(self) -> VismaPorts:
        return self

    @property
    def booked(self) -> VismaPorts:
        return self

    @property
    def posting(self) -> JournalTarget:
        return self._posting

    @property
    def supplier_ledger(self) -> SupplierInvoiceTarget | None:
        return self._supplier_ledger

    @property
    def supplier_payments(self) -> SupplierPaymentTarget | None:
        return self._supplier_payments

    # ------------------------------------------------------------------ master data

    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]:
        return [account(a) for a in await self.client.accounts(modified_since=modified_since)]

    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]:
        return [supplier(s) for s in await self.client.suppliers(modified_since=modified_since)]

    async def subaccount_dimension(self) -> list[Segment]:
        return [segment(s) for s in await self.client.subaccount_dimension()]

    async def financial_periods(self) -> list[Period]:
        return [period(p) for p in await self.client.financial_periods()]

    async def currencies(self) -> list[Currency]:
        return [Currency(id=c.id, is_base=c.is_base) for c in await self.client.currencies()]

    async def currency_rate(self, currency: str, day: date, *, rate_type: str | None) -> Decimal | None:
        """The rate of ``currency`` to the company currency in force on ``day`` (the latest effective
        on or before it, ``VismaClient.currency_rate``), as company-currency units per unit (a
        ``Divide`` rate inverted); read once per currency, day and type while the ports are open."""
        key = (currency, day, rate_type)
        if key not in self._rates:
            found = await self.client.currency_rate(currency, day, rate_type=rate_type)
            self._rates[key] = None if found is None else found.multiplier
        return self._rates[key]

    async def account(self, number: str) -> Account | None:
        found = await self.client.account(number)
        return None if found is None else account(found)

    async def supplier(self, number: str) -> Supplier | None:
        found = await self.client.supplier(number)
        return None if found is None else supplier(found)

    async def segment_value(self, segment_id: int, value: str) -> SegmentValue | None:
        found = await self.client.segment_value(segment_id, value)
        return None if found is None else segment_value(found)

    # ------------------------------------------------------------------ booked

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[Booked]:
        return [booked(j) for j in await self.client.journals(period=period, modified_since=modified_since)]
