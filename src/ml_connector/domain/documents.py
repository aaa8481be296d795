"""Canonical documents read from Stampli exports: invoices (with lines) and payments (with applications).

Field names follow stampli-format.md in snake_case; ``to_json`` gives the camelCase form used by
``inspect --json``, the ledger and the audit trail. Every document carries its provenance.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints, overload

from ml_connector.domain.money import Money, format_amount


class DocumentType(StrEnum):
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"


class LineType(StrEnum):
    GL = "GL"
    ITEM = "ITEM"


class PaymentStatus(StrEnum):
    PAID = "PAID"
    VOIDED = "VOIDED"
    SCHEDULED = "SCHEDULED"
    FAILED = "FAILED"


# Only these payment statuses are booked: PAID posts, VOIDED reverses (or is skipped when the
# payment never reached Visma). Every other known status is skipped with its reason.
BOOKED_PAYMENT_STATUSES = frozenset({PaymentStatus.PAID, PaymentStatus.VOIDED})
# The default of ReaderProfile.approved_statuses: only an APPROVED invoice posts.
POSTABLE_APPROVAL_STATUSES = frozenset({"APPROVED"})


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a document came from: the remote file, its sha256, and rows (CSV, 1-based physical
    record numbers counting the header as 1) or an XPath (XML)."""

    remote_path: str
    sha256: str
    rows: tuple[int, ...] = ()
    xpath: str | None = None
    mtime: datetime | None = None


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    line_number: int
    line_type: LineType
    line_net_amount: Decimal
    line_tax_amount: Decimal
    gl_account: str | None = None
    item_code: str | None = None
    line_description: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_code: str | None = None
    tax_rate: Decimal | None = None
    department: str | None = None
    cost_center: str | None = None
    location: str | None = None
    class_: str | None = None
    project: str | None = None
    po_line_number: str | None = None
    custom: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)
    row: int | None = None
    xpath: str | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    stampli_company_id: str
    stampli_invoice_id: str | None
    document_type: DocumentType
    invoice_number: str
    vendor_id: str
    vendor_name: str
    invoice_date: date
    due_date: date
    currency: str
    subtotal_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    approval_status: str
    approved_at: datetime | None
    exported_at: datetime | None
    lines: tuple[InvoiceLine, ...]
    provenance: Provenance
    stampli_link: str | None = None
    original_invoice_number: str | None = None
    vendor_tax_id: str | None = None
    posting_date: date | None = None
    exchange_rate: Decimal | None = None
    payment_terms: str | None = None
    payment_reference: str | None = None
    payment_reference_type: str | None = None
    po_number: str | None = None
    description: str | None = None
    approvers: tuple[str, ...] = ()
    custom: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)
    # The invoice image's file name in the images/ folder beside the export (domain/images.py).
    document_file: str | None = None

    @property
    def total(self) -> Money:
        return Money(self.total_amount, self.currency)

    @property
    def key(self) -> str:
        return record_key(
            "invoice",
            (
                self.stampli_invoice_id,
                self.stampli_company_id,
                self.vendor_id,
                self.invoice_number,
                self.document_type,
            ),
            complete=False,
        )

    @property
    def effective_posting_date(self) -> date:
        return self.posting_date or self.invoice_date


@dataclass(frozen=True, slots=True)
class PaymentApplication:
    stampli_invoice_id: str
    invoice_number: str
    document_type: DocumentType
    invoice_currency: str
    applied_amount: Decimal
    discount_amount: Decimal | None = None
    row: int | None = None
    xpath: str | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    stampli_company_id: str
    stampli_payment_id: str
    payment_date: date
    payment_method: str
    payment_status: str
    payment_currency: str
    payment_amount: Decimal
    vendor_id: str
    exported_at: datetime | None
    applications: tuple[PaymentApplication, ...]
    provenance: Provenance
    payment_number: str | None = None
    payment_source: str | None = None
    check_number: str | None = None
    bank_account: str | None = None
    exchange_rate: Decimal | None = None
    vendor_name: str | None = None
    remittance_reference: str | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def amount(self) -> Money:
        return Money(self.payment_amount, self.payment_currency)

    @property
    def key(self) -> str:
        """The ledger key: ``PAY:<id>``, or ``PAYV:<id>`` (the reversal) when Stampli voided it."""
        return payment_key(self.stampli_payment_id, voided=self.payment_status == "VOIDED")

    @property
    def paid_key(self) -> str:
        """The key of the payment itself, the document a void reverses."""
        return payment_key(self.stampli_payment_id)


def normalize_invoice_number(number: str) -> str:
    """Trim, drop inner whitespace, upper-case (stampli-format.md §4.3 footnote 1)."""
    return "".join(number.split()).upper()


def normalize_id(text: str) -> str:
    """The one normal form of an identifier: trimmed, Unicode NFC (so ``é`` written as one code
    point or as ``e`` + combining accent is the same id)."""
    text = text.strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def refused_id_char(text: str) -> str | None:
    """The first character an identifier must not hold, as ``U+200B``, or None.

    Refused: control characters, invisible format characters (zero-width space, BOM, bidi marks),
    line and paragraph separators, spaces other than the ASCII space, surrogates, private-use and
    unassigned code points: exactly what ``str.isprintable`` rejects. Two ids that look the same
    must be the same id."""
    if text.isprintable():
        return None
    bad = next(c for c in text if not c.isprintable())
    return f"U+{ord(bad):04X}"


def document_key(prefix: str, *parts: str) -> str:
    """How a ledger document key is written (``record_key`` decides its parts): ``PREFIX:part:part``.
    Each part is normalised by ``normalize_id``; a character ``refused_id_char`` refuses is written
    as ``<U+200B>`` so a key (of a rejected record, in a failure) never hides one. Readers refuse
    such ids before a document is accepted."""
    out = [prefix]
    for part in parts:
        part = part.strip()
        if not (part.isascii() and part.isprintable()):  # else already normal: the common case
            part = "".join(c if c.isprintable() else f"<U+{ord(c):04X}>" for c in normalize_id(part))
        out.append(part)
    return ":".join(out)


# The camelCase fields a document's key is made of, in the order ``record_key`` takes them.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "invoice": ("stampliInvoiceId", "stampliCompanyId", "vendorId", "invoiceNumber", "documentType"),
    "payment": ("stampliPaymentId",),
    "application": ("stampliPaymentId", "stampliInvoiceId"),
}


@overload
def record_key(
    kind: str, values: Sequence[str | None], *, complete: Literal[False], voided: bool = False
) -> str: ...
@overload
def record_key(
    kind: str, values: Sequence[str | None], *, complete: bool = True, voided: bool = False
) -> str | None: ...
def record_key(
    kind: str, values: Sequence[str | None], *, complete: bool = True, voided: bool = False
) -> str | None:
    """The one function that decides a document's ledger key, from the texts of its
    ``KEY_FIELDS[kind]`` in that order (as read, untrimmed, or None):

    * invoice: ``INV:<stampliInvoiceId>``, or without one the §4.8 fallback
      ``INVX:company:vendor:NORMALIZED-NUMBER:TYPE``;
    * payment: ``PAY:<stampliPaymentId>``, ``PAYV:<id>`` for the reversal of a voided one;
    * application: ``PAY:<stampliPaymentId>:<stampliInvoiceId>``.

    ``complete=True`` (a document's key) gives None when the fields cannot make a key (no id and
    an incomplete fallback); ``complete=False`` (grouping rows, naming what was written) always
    builds one from whatever is there."""
    if kind == "invoice":
        iid = values[0]
        if iid and iid.strip():  # the common case
            return document_key("INV", iid)
        company, vendor, number, doc_type = (v or "" for v in values[1:])
        if complete and not (company.strip() and vendor.strip() and number.strip() and doc_type.strip()):
            return None
        return document_key(
            "INVX", company, vendor, normalize_invoice_number(number), doc_type.strip().upper()
        )
    parts = [v or "" for v in values]
    if complete and not all(p.strip() for p in parts):
        return None
    return document_key("PAYV" if voided else "PAY", *parts)


def invoice_document_key(
    invoice_id: str | None, company: str, vendor: str, number: str, document_type: str
) -> str:
    """The idempotency key of an invoice: the Stampli invoice id, or the §4.8 fallback key."""
    return record_key("invoice", (invoice_id, company, vendor, number, document_type), complete=False)


def invoice_key(inv: Invoice) -> str:
    return inv.key


def payment_key(payment_id: str, *, voided: bool = False) -> str:
    """``PAY:<id>`` for a payment; ``PAYV:<id>`` for the reversal of a voided one."""
    return record_key("payment", (payment_id,), complete=False, voided=voided)


def application_key(payment: Payment, app: PaymentApplication) -> str:
    return record_key("application", (payment.stampli_payment_id, app.stampli_invoice_id), complete=False)


# ---- JSON form ---------------------------------------------------------------------------------

_RENAMES = {"class_": "class"}
# Fields that describe where or when a document was delivered, not what it says (the image's file
# name too: documents read before the column existed keep their hash).
_NOT_CONTENT = {"provenance", "exportedAt", "row", "xpath", "extra", "documentFile"}


def camel(name: str) -> str:
    name = _RENAMES.get(name, name)
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_PLAIN = (str, int, bool)  # exactly these types (a StrEnum is a str, written by its value below)


def to_json(value: Any) -> Any:
    """Canonical JSON-ready form: camelCase keys, decimals as strings, ISO dates, no floats."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return format_amount(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {name: to_json(getattr(value, attr)) for attr, name in _json_names(type(value))}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def invoice_json(inv: Invoice) -> dict[str, Any]:
    data: dict[str, Any] = to_json(inv)
    data["key"] = inv.key
    return data


def payment_json(pay: Payment) -> dict[str, Any]:
    data: dict[str, Any] = to_json(pay)
    return data


def content_hash(doc: Invoice | Payment) -> str:
    """sha256 over what a document says (amounts, coding, parties), not where or when it arrived."""
    return json_content_hash(to_json(doc))


def stored_json(doc: Invoice | Payment) -> tuple[dict[str, Any], str]:
    """What the ledger stores of a document: its JSON form (an invoice's with its key) and its
    ``content_hash``, converted once for both."""
    data: dict[str, Any] = to_json(doc)
    digest = json_content_hash(data)
    if isinstance(doc, Invoice):
        data["key"] = doc.key
    return data, digest


def json_content_hash(data: Mapping[str, Any]) -> str:
    """``content_hash`` of a document's ``to_json`` form."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in sorted(obj.items()) if k not in _NOT_CONTENT}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    canonical = json.dumps(strip(dict(data)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Per class, computed once: field names and their JSON names, and for the way back one converter per
# field built from its type hint (get_type_hints and get_origin on every value cost a fifth of the
# posting path's CPU: a voucher is built from stored JSON for every document).
_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}
_READERS: dict[type, dict[str, tuple[str, Callable[[Any], Any]]]] = {}


def _json_names(cls: type) -> tuple[tuple[str, str], ...]:
    known = _NAMES.get(cls)
    if known is None:
        known = _NAMES[cls] = tuple((f.name, camel(f.name)) for f in fields(cls))
    return known


def _readers(cls: type) -> dict[str, tuple[str, Callable[[Any], Any]]]:
    """JSON (camelCase) name -> (field name, converter of its JSON value)."""
    known = _READERS.get(cls)
    if known is None:
        hints = get_type_hints(cls)
        known = _READERS[cls] = {camel(f.name): (f.name, _converter(hints[f.name])) for f in fields(cls)}
    return known


def _identity(value: Any) -> Any:
    return value


def _converter(tp: Any) -> Callable[[Any], Any]:
    """The function turning a JSON value back into a value of type ``tp`` (None stays None)."""
    origin = get_origin(tp)
    args = get_args(tp)
    inner: Callable[[Any], Any]
    if origin in (UnionType, Union):
        inner = _converter(next(a for a in args if a is not type(None)))
    elif origin is tuple:
        item = _converter(args[0])
        inner = lambda v: tuple(item(x) for x in v)  # noqa: E731
    elif origin is Mapping or origin is dict:
        inner = lambda v: {str(k): str(x) for k, x in v.items()}  # noqa: E731
    elif isinstance(tp, type) and is_dataclass(tp):
        inner = lambda v: from_json(tp, v)  # noqa: E731
    elif tp is Decimal:
        inner = lambda v: Decimal(str(v))  # noqa: E731
    elif tp is datetime:
        inner = datetime.fromisoformat
    elif tp is date:
        inner = date.fromisoformat
    elif isinstance(tp, type) and issubclass(tp, StrEnum):
        inner = tp
    elif tp is int:
        inner = int
    else:
        inner = _identity
    return lambda v: None if v is None else inner(v)


_T = TypeVar("_T")


def from_json(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """Inverse of ``to_json`` for the document dataclasses (replays post from stored JSON)."""
    readers = _readers(cls)
    kwargs = {}
    for k, v in data.items():
        known = readers.get(k)
        if known is not None:
            kwargs[known[0]] = known[1](v)
    return cls(**kwargs)


def invoice_from_json(data: Mapping[str, Any]) -> Invoice:
    return from_json(Invoice, data)


def payment_from_json(data: Mapping[str, Any]) -> Payment:
    return from_json(Payment, data)
