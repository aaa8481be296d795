"""The supplier ledger's wire side: the ``SupplierInvoiceUpdateDto`` we send and the records we read.

Field names are those of Visma's supplier-invoice OpenAPI file (and tests/support/visma_contract.yml).
Scalars are wrapped as ``{"value": …}``; lines and subaccount segments are not. Each line is sent as
quantity 1 at its exact cost, so Visma computes nothing from a float. ``validateLineDetails`` asks
Visma to refuse a bad line instead of silently dropping it (the default would lose cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ml_connector.adapters.visma.models import _bool, _dec, _dt, _int, _obj, _str
from ml_connector.adapters.visma.wire import PERIOD_FORMAT, value
from ml_connector.domain.supplier_invoice import SupplierInvoiceLine, SupplierInvoiceVoucher

SUPPLIER_INVOICE_PATH = "/v1/supplierInvoice"
# Statuses after a release: the document is in the supplier ledger and can no longer be released.
RELEASED_STATUSES = frozenset({"Open", "Closed", "Printed", "Reserved", "Prebooked"})


def _datetime(d: date) -> str:
    return d.strftime("%Y-%m-%dT00:00:00")


def supplier_invoice_dto(voucher: SupplierInvoiceVoucher) -> dict[str, object]:
    """The ``SupplierInvoiceUpdateDto`` for ``voucher`` (POST /v1/supplierInvoice)."""
    if not PERIOD_FORMAT.match(voucher.financial_period):
        raise ValueError(f"financial period must be YYYYMM, got {voucher.financial_period!r}")
    if not voucher.lines:
        raise ValueError("a supplier invoice without lines cannot be posted")
    if voucher.document_type not in ("Invoice", "DebitAdj"):
        raise ValueError(f"unsupported document type {voucher.document_type!r}")
    dto: dict[str, object] = {
        "documentType": value(voucher.document_type),
        "supplierNumber": value(voucher.supplier),
        "supplierReference": value(voucher.supplier_reference),
        "date": value(_datetime(voucher.document_date)),
        "financialPeriod": value(voucher.financial_period),
        "currencyId": value(voucher.currency),
    }
    if voucher.due_date is not None:
        dto["dueDate"] = value(_datetime(voucher.due_date))
    if voucher.credit_terms:
        dto["creditTermsId"] = value(voucher.credit_terms)
    if voucher.exchange_rate is not None:
        dto["exchangeRate"] = value(voucher.exchange_rate)
    if voucher.payment_reference:
        dto["paymentRefNo"] = value(voucher.payment_reference)
    if voucher.note:
        dto["note"] = value(voucher.note)
    dto["validateLineDetails"] = value(True)
    dto["invoiceLines"] = [_line_dto(line) for line in voucher.lines]
    return dto


def _line_dto(line: SupplierInvoiceLine) -> dict[str, object]:
    if line.amount < 0:
        raise ValueError("supplier invoice lines are not negative; a credit note is a DebitAdj")
    dto: dict[str, object] = {"operation": "Insert", "accountNumber": value(line.account)}
    if line.subaccount:
        dto["subaccount"] = [{"segmentId": s.segment_id, "segmentValue": s.value} for s in line.subaccount]
    dto["quantity"] = value(Decimal(1))
    dto["unitCostInCurrency"] = value(line.amount)
    if line.vat_code:
        dto["vatCodeId"] = value(line.vat_code)
    dto["transactionDescription"] = value(line.description)
    return dto


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """Visma's ``AttachmentDto``: a re-upload of the same file name is a new ``revision``."""

    name: str
    attachment_id: str | None
    revision: int | None
    etag: str | None = None  # the document's new ETag, on the answer to an upload (an upload changes it)

    @classmethod
    def from_dto(cls, d: dict[str, Any], *, etag: str | None = None) -> AttachmentInfo:
        return cls(
            name=str(d.get("name") or ""),
            attachment_id=_str(d, "id"),
            revision=_int(d, "revision"),
            etag=etag,
        )


def attachments_of(d: dict[str, Any]) -> tuple[AttachmentInfo, ...]:
    return tuple(AttachmentInfo.from_dto(a) for a in d.get("attachments") or [] if isinstance(a, dict))


@dataclass(frozen=True, slots=True)
class SupplierInvoiceRecordLine:
    line_number: int | None
    account: str
    description: str | None
    cost: Decimal | None  # in the document currency
    vat_code: str | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> SupplierInvoiceRecordLine:
        return cls(
            line_number=_int(d, "lineNumber"),
            account=str(_obj(d, "account").get("number") or ""),
            description=_str(d, "transactionDescription"),
            cost=_dec(d, "costInCurrency"),
            vat_code=_str(_obj(d, "vatCode"), "id"),
        )


@dataclass(frozen=True)
class SupplierInvoiceRecord:
    """One supplier invoice as Visma holds it (``SupplierInvoiceDto``)."""

    number: str  # referenceNumber
    document_type: str
    status: str | None
    supplier: str | None
    supplier_reference: str | None
    document_date: datetime | None
    due_date: datetime | None
    financial_period: str | None  # YYYYMM
    currency: str | None
    amount: Decimal | None  # in the document currency
    lines: tuple[SupplierInvoiceRecordLine, ...]
    attachments: tuple[AttachmentInfo, ...]
    last_modified: datetime | None = None
    timestamp: str | None = None
    etag: str | None = None
    pay_selected: bool | None = None  # "approved for payment" (None: Visma did not say)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dto(cls, d: dict[str, Any], *, etag: str | None = None) -> SupplierInvoiceRecord:
        return cls(
            number=str(d.get("referenceNumber") or ""),
            document_type=str(d.get("documentType") or ""),
            status=_str(d, "status"),
            supplier=_str(_obj(d, "supplier"), "number"),
            supplier_reference=_str(d, "supplierReference"),
            document_date=_dt(d, "date"),
            due_date=_dt(d, "dueDate"),
            financial_period=_str(d, "financialPeriod"),
            currency=_str(d, "currencyId"),
            amount=_dec(d, "amount"),
            lines=tuple(
                SupplierInvoiceRecordLine.from_dto(x)
                for x in d.get("invoiceLines") or []
                if isinstance(x, dict)
            ),
            attachments=attachments_of(d),
            last_modified=_dt(d, "lastModifiedDateTime"),
            timestamp=_str(d, "timeStamp"),
            etag=etag,
            pay_selected=_bool(d, "paySelected"),
            raw=d,
        )

    @property
    def released(self) -> bool:
        return self.status in RELEASED_STATUSES

    @property
    def key(self) -> str:
        """``{documentType}/{number}``: the number alone is not unique across document types."""
        return f"{self.document_type}/{self.number}"


@dataclass(frozen=True, slots=True)
class CreatedDocument:
    """A created supplier-ledger document: an invoice (``Invoice``, ``DebitAdj``) or a payment
    (``Payment``, ``VoidPayment``); its number is unique only within its type."""

    document_type: str
    number: str
    etag: str | None
    location: str

    @property
    def key(self) -> str:
        return f"{self.document_type}/{self.number}"


CreatedSupplierInvoice = CreatedDocument
