"""Supplier payments on the wire: the ``SupplierPaymentUpdateDto`` we send and the records we read.

Field names are those of Visma's supplier-payment OpenAPI file (and tests/support/visma_contract.yml).
A payment is sent fully applied: ``paymentAmount`` equals the net of its ``paymentLines`` (an
unapplied payment would sit on the supplier's account instead of settling documents). Voiding uses
the one way the spec offers, a ``VoidPayment`` document with the original's number (visma-ap.md §6).
``applicationPeriod`` is not sent: its format is not documented, and the date decides it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ml_connector.adapters.visma.models import _dec, _dt, _obj, _str
from ml_connector.adapters.visma.wire import value
from ml_connector.domain.supplier_payment import PaymentApplication, SupplierPaymentVoucher

SUPPLIER_PAYMENT_PATH = "/v1/supplierPayment"
# Statuses after a release (Voided: released, then voided by a released VoidPayment).
RELEASED_STATUSES = frozenset({"Open", "Closed", "Voided"})


def _datetime(d: date) -> str:
    return d.strftime("%Y-%m-%dT00:00:00")


def supplier_payment_dto(voucher: SupplierPaymentVoucher) -> dict[str, object]:
    """The ``SupplierPaymentUpdateDto`` for ``voucher`` (POST /v1/supplierPayment, type Payment)."""
    if not voucher.applications:
        raise ValueError("a supplier payment without applications would post unapplied")
    if voucher.amount <= 0:
        raise ValueError(f"a supplier payment's amount must be positive, got {voucher.amount}")
    if voucher.applied != voucher.amount:
        raise ValueError(
            f"payment {voucher.reference}: its applications net to {voucher.applied}, "
            f"not its amount {voucher.amount}"
        )
    dto: dict[str, object] = {
        "type": value("Payment"),
        "supplier": value(voucher.supplier),
        "applicationDate": value(_datetime(voucher.payment_date)),
        "paymentRef": value(voucher.reference),
        "currency": value(voucher.currency),
        "paymentAmount": value(voucher.amount),
    }
    if voucher.cash_account:
        dto["cashAccount"] = value(voucher.cash_account)
    if voucher.payment_method:
        dto["paymentMethod"] = value(voucher.payment_method)
    if voucher.description:
        dto["description"] = value(voucher.description)
    dto["paymentLines"] = [_line_dto(a) for a in voucher.applications]
    return dto


def _line_dto(a: PaymentApplication) -> dict[str, object]:
    if a.amount <= 0 or a.cash_discount < 0:
        raise ValueError(f"{a.document_type} {a.document_number}: an application's amount must be positive")
    dto: dict[str, object] = {
        "operation": "Insert",
        "documentType": value(a.document_type),
        "refNbr": value(a.document_number),
        "amountPaid": value(a.amount),
    }
    if a.cash_discount:
        dto["cashDiscountTaken"] = value(a.cash_discount)
    return dto


def void_payment_dto(number: str, day: date | None = None) -> dict[str, object]:
    """The ``VoidPayment`` that undoes released payment ``number`` (it takes the original's number),
    dated ``day`` (left out: Visma's today)."""
    dto: dict[str, object] = {"type": value("VoidPayment"), "referenceNumber": value(number)}
    if day is not None:
        dto["applicationDate"] = value(_datetime(day))
    return dto


def release_dto(payment_type: str) -> dict[str, object]:
    """``ReleaseSupplierPaymentActionDto``: the release path names only the number, the type is here."""
    return {"type": value(payment_type)}


@dataclass(frozen=True, slots=True)
class PaymentLineRecord:
    document_type: str
    document_number: str
    amount_paid: Decimal | None
    cash_discount: Decimal | None
    document_balance: Decimal | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> PaymentLineRecord:
        return cls(
            document_type=str(d.get("docType") or ""),
            document_number=str(d.get("invoiceRefNbr") or ""),
            amount_paid=_dec(d, "amountPaid"),
            cash_discount=_dec(d, "cashDiscountTaken"),
            document_balance=_dec(d, "balance"),
        )


@dataclass(frozen=True)
class SupplierPaymentRecord:
    """One supplier payment as Visma holds it (``SupplierPaymentDto``)."""

    number: str  # refNbr
    payment_type: str
    status: str | None
    supplier: str | None
    payment_ref: str | None
    application_date: datetime | None
    financial_period: str | None  # applicationPeriod as Visma writes it
    currency: str | None
    amount: Decimal | None
    unapplied: Decimal | None
    lines: tuple[PaymentLineRecord, ...]
    last_modified: datetime | None = None
    timestamp: str | None = None
    etag: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dto(cls, d: dict[str, Any], *, etag: str | None = None) -> SupplierPaymentRecord:
        return cls(
            number=str(d.get("refNbr") or ""),
            payment_type=str(d.get("type") or ""),
            status=_str(d, "status"),
            supplier=_str(_obj(d, "supplier"), "number"),
            payment_ref=_str(d, "paymentRef"),
            application_date=_dt(d, "applicationDate"),
            financial_period=_str(d, "applicationPeriod"),
            currency=_str(_obj(d, "currency"), "id"),
            amount=_dec(d, "paymentAmount"),
            unapplied=_dec(d, "unappliedBalance"),
            lines=tuple(
                PaymentLineRecord.from_dto(x) for x in d.get("paymentLines") or [] if isinstance(x, dict)
            ),
            last_modified=_dt(d, "lastModifiedDateTime"),
            timestamp=_str(d, "timeStamp"),
            etag=etag,
            raw=d,
        )

    @property
    def released(self) -> bool:
        return self.status in RELEASED_STATUSES

    @property
    def key(self) -> str:
        """``{type}/{number}``: a VoidPayment has its original's number."""
        return f"{self.payment_type}/{self.number}"
