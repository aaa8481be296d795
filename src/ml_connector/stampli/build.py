"""Raw records (text by canonical field name) to canonical documents, with every §4.7 check.

Both readers (CSV and XML) produce ``RawDocument``s; this module is the one place that turns text
into ``Invoice`` / ``Payment`` and decides whether a document is rejected. It never raises for bad
data: it returns the document (or None) and the issues it found, all of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter
from typing import Any, Literal, NoReturn, TypeVar

from ml_connector.domain.documents import (
    BOOKED_PAYMENT_STATUSES,
    DocumentType,
    Invoice,
    InvoiceLine,
    LineType,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Provenance,
    invoice_document_key,
    normalize_id,
    payment_key,
    refused_id_char,
)
from ml_connector.domain.issues import Issue, Level, error, warning
from ml_connector.domain.money import finer_than_minor_unit, is_currency_code, minor_units, round_money
from ml_connector.stampli.columns import (
    INVOICE_EXTENSION_COLUMNS,
    INVOICE_HEADER_COLUMNS,
    INVOICE_LINE_COLUMNS,
    HeaderMap,
)
from ml_connector.stampli.values import BadValue, ValueRules

# Free text is kept exactly as written; every other field is trimmed.
_VERBATIM = frozenset({"description", "lineDescription", "voidReason", "paymentTerms"})
# Identifiers that make keys and references: one normal form (NFC), nothing invisible.
_IDS = frozenset({"stampliCompanyId", "stampliInvoiceId", "stampliPaymentId", "vendorId", "invoiceNumber"})
# Control characters (NUL, ESC, C1 ...) never reach Visma; text keeps its tabs and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class RawLine:
    values: dict[str, str | None]
    custom: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    row: int | None = None
    xpath: str | None = None


@dataclass
class RawDocument:
    kind: Literal["invoice", "payment"]
    header: dict[str, str | None]
    lines: list[RawLine]
    rows: tuple[int, ...] = ()
    xpath: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    approvers: tuple[str, ...] | None = None  # XML gives a list; CSV has the '|' text in header
    issues: list[Issue] = field(default_factory=list)  # found while grouping (header_mismatch, ...)

    @property
    def first_row(self) -> int | None:
        return self.rows[0] if self.rows else None

    def key(self) -> str | None:
        h = self.header
        if self.kind == "payment":
            pid = (h.get("stampliPaymentId") or "").strip()
            return payment_key(pid) if pid else None
        iid = h.get("stampliInvoiceId")
        names = ("stampliCompanyId", "vendorId", "invoiceNumber", "documentType")
        company, vendor, number, doc_type = ((h.get(k) or "").strip() for k in names)
        if (iid and iid.strip()) or (company and vendor and number and doc_type):
            return invoice_document_key(iid, company, vendor, number, doc_type)
        return None

    def parsed_json(self) -> dict[str, Any]:
        """Best-effort camelCase view of the raw text, for a rejected record."""
        out: dict[str, Any] = {k: v for k, v in self.header.items() if v is not None}
        if self.approvers is not None:
            out["approvers"] = list(self.approvers)
        if self.custom:
            out["custom"] = dict(self.custom)
        if self.extra:
            out["extra"] = dict(self.extra)
        sub = "lines" if self.kind == "invoice" else "applications"
        out[sub] = []
        for line in self.lines:
            d: dict[str, Any] = {k: v for k, v in line.values.items() if v is not None}
            if line.custom:
                d["custom"] = dict(line.custom)
            if line.extra:
                d["extra"] = dict(line.extra)
            out[sub].append(d)
        return out


@dataclass
class BuildContext:
    file: str
    remote_path: str
    sha256: str
    rules: ValueRules
    approved_statuses: frozenset[str]
    tolerance: Decimal
    max_lines: int


class _Fields:
    """Reads typed values from one raw mapping, collecting issues with their location."""

    def __init__(self, ctx: BuildContext, doc_key: str | None, issues: list[Issue], naive: set[str]) -> None:
        self.ctx = ctx
        self.key = doc_key
        self.issues = issues
        self.naive = naive

    def _where(self, row: int | None, xpath: str | None, name: str) -> dict[str, object]:
        w: dict[str, object] = {"file": self.ctx.file, "field": name}
        if row is not None:
            w["row"] = row
        if xpath is not None:
            w["xpath"] = xpath
        if self.key is not None:
            w["document"] = self.key
        return w

    def fail(self, code: str, message: str, row: int | None, xpath: str | None, name: str) -> None:
        self.issues.append(error(code, message, **self._where(row, xpath, name)))

    def warn(self, code: str, message: str, row: int | None, xpath: str | None, name: str) -> None:
        self.issues.append(warning(code, message, **self._where(row, xpath, name)))

    def text(
        self,
        src: Mapping[str, str | None],
        name: str,
        row: int | None,
        xpath: str | None,
        *,
        req: bool = False,
    ) -> str | None:
        raw = src.get(name)
        if raw is not None and name not in _VERBATIM:
            raw = raw.strip()
        if raw is None or raw == "":
            if req:
                self.fail("missing_value", f"{name} is required but empty", row, xpath, name)
            return None
        if raw.isascii() and raw.isprintable():  # the common case: nothing to refuse or normalise
            return raw
        if name in _IDS:
            bad = refused_id_char(raw)
            if bad is not None:
                self.fail(
                    "invalid_value",
                    f"{name} holds the invisible or control character {bad}; ids must be plain text",
                    row,
                    xpath,
                    name,
                )
                return None
            return normalize_id(raw)
        control = _CONTROL.search(raw)
        if control is not None:
            self.fail(
                "invalid_value",
                f"{name} holds the control character U+{ord(control.group()):04X}",
                row,
                xpath,
                name,
            )
            return None
        return raw

    def typed(
        self,
        src: Mapping[str, str | None],
        name: str,
        row: int | None,
        xpath: str | None,
        kind: str,
        *,
        req: bool = False,
        currency: str | None = None,
    ) -> Any:
        """The typed value; ``kind="money"`` is an amount in ``currency`` (checked against its
        minor unit when the currency is known)."""
        raw = self.text(src, name, row, xpath, req=req)
        if raw is None:
            return None
        rules = self.ctx.rules
        try:
            if kind == "amount":
                return rules.amount(raw)
            if kind == "money":
                money = rules.amount(raw)
                if currency is not None and finer_than_minor_unit(money, currency):
                    raise BadValue(
                        "invalid_amount",
                        f"{raw!r} has more decimals than {currency} has ({minor_units(currency)}); "
                        "Stampli amounts are in the currency's minor unit",
                    )
                return money
            if kind == "int":
                return rules.integer(raw)
            if kind == "date":
                return rules.date(raw)
            if kind == "currency":
                return rules.currency(raw)
            if kind == "timestamp":
                value, was_naive = rules.timestamp(raw)
                if was_naive and name not in self.naive:
                    self.naive.add(name)
                    self.warn(
                        "naive_timestamp",
                        f"{name} {raw!r} has no UTC offset; read in the profile's time zone",
                        row,
                        xpath,
                        name,
                    )
                return value
        except BadValue as exc:
            self.fail(exc.code, f"{name}: {exc.message}", row, xpath, name)
            return None
        raise AssertionError(kind)  # pragma: no cover

    def enum(
        self,
        src: Mapping[str, str | None],
        name: str,
        row: int | None,
        xpath: str | None,
        allowed: frozenset[str],
        *,
        req: bool = False,
    ) -> str | None:
        raw = self.text(src, name, row, xpath, req=req)
        if raw is None:
            return None
        value = raw.upper()
        if value not in allowed:
            self.fail(
                "invalid_value",
                f"{name} {raw!r} is not one of {', '.join(sorted(allowed))}",
                row,
                xpath,
                name,
            )
            return None
        return value


_DOC_TYPES = frozenset(t.value for t in DocumentType)
_LINE_TYPES = frozenset(t.value for t in LineType)
_PAY_STATUSES = frozenset(s.value for s in PaymentStatus)


def _check_rate(f: _Fields, rate: Decimal | None, row: int | None, xpath: str | None) -> None:
    if rate is not None and rate <= 0:
        f.fail("invalid_amount", f"exchangeRate {rate} must be greater than 0", row, xpath, "exchangeRate")


def _close(a: Decimal, b: Decimal, currency: str, tolerance: Decimal) -> bool:
    return abs(round_money(a, currency) - round_money(b, currency)) <= tolerance


def _has_errors(issues: list[Issue]) -> bool:
    return any(i.level == Level.ERROR for i in issues)


def build_invoice(raw: RawDocument, ctx: BuildContext) -> tuple[Invoice | None, list[Issue]]:
    issues: list[Issue] = list(raw.issues)
    key = raw.key()
    f = _Fields(ctx, key, issues, set())
    h, row, xp = raw.header, raw.first_row, raw.xpath

    company = f.text(h, "stampliCompanyId", row, xp, req=True)
    invoice_id = f.text(h, "stampliInvoiceId", row, xp)
    doc_type = f.enum(h, "documentType", row, xp, _DOC_TYPES, req=True)
    number = f.text(h, "invoiceNumber", row, xp, req=True)
    vendor_id = f.text(h, "vendorId", row, xp, req=True)
    vendor_name = f.text(h, "vendorName", row, xp, req=True)
    invoice_date = f.typed(h, "invoiceDate", row, xp, "date", req=True)
    due_date = f.typed(h, "dueDate", row, xp, "date", req=True)
    posting_date = f.typed(h, "postingDate", row, xp, "date")
    currency = f.typed(h, "currency", row, xp, "currency", req=True)
    rate = f.typed(h, "exchangeRate", row, xp, "amount")
    _check_rate(f, rate, row, xp)
    subtotal = f.typed(h, "subtotalAmount", row, xp, "money", req=True, currency=currency)
    tax = f.typed(h, "taxAmount", row, xp, "money", req=True, currency=currency)
    total = f.typed(h, "totalAmount", row, xp, "money", req=True, currency=currency)
    status_raw = f.text(h, "approvalStatus", row, xp, req=True)
    approved_at = f.typed(h, "approvedAt", row, xp, "timestamp", req=True)
    exported_at = f.typed(h, "exportedAt", row, xp, "timestamp", req=True)
    link = f.text(h, "stampliLink", row, xp)
    if link is not None and not link.startswith(("https://", "http://")):
        f.fail("invalid_value", f"stampliLink {link!r} is not an http(s) URL", row, xp, "stampliLink")
    status = status_raw.upper() if status_raw else None
    if status is not None and status not in ctx.approved_statuses:
        f.fail(
            "not_approved",
            f"approvalStatus {status_raw!r} is not approved ({', '.join(sorted(ctx.approved_statuses))})",
            row,
            xp,
            "approvalStatus",
        )
    if raw.approvers is not None:
        approvers = raw.approvers
    else:
        text = f.text(h, "approvers", row, xp)
        approvers = tuple(a.strip() for a in text.split("|") if a.strip()) if text else ()

    if len(raw.lines) > ctx.max_lines:
        f.fail(
            "too_many_lines", f"{len(raw.lines)} lines; the limit is {ctx.max_lines}", row, xp, "lineNumber"
        )
        return None, issues
    if not raw.lines:
        f.fail("missing_value", "the invoice has no lines", row, xp, "lines")

    lines: list[InvoiceLine] = []
    seen_numbers: dict[int, int | str | None] = {}
    net_sum = Decimal(0)
    tax_sum = Decimal(0)
    sums_ok = True
    for line in raw.lines:
        v, lr, lx = line.values, line.row, line.xpath
        number_ = f.typed(v, "lineNumber", lr, lx, "int", req=True)
        ltype = f.enum(v, "lineType", lr, lx, _LINE_TYPES, req=True)
        gl = f.text(v, "glAccount", lr, lx, req=ltype == "GL")
        item = f.text(v, "itemCode", lr, lx, req=ltype == "ITEM")
        qty = f.typed(v, "quantity", lr, lx, "amount")
        price = f.typed(v, "unitPrice", lr, lx, "amount")
        net = f.typed(v, "lineNetAmount", lr, lx, "money", req=True, currency=currency)
        ltax = f.typed(v, "lineTaxAmount", lr, lx, "money", req=True, currency=currency)
        rate_pct = f.typed(v, "taxRate", lr, lx, "amount")
        if number_ is not None:
            if number_ in seen_numbers:
                where = seen_numbers[number_]
                f.fail(
                    "duplicate_line_number",
                    f"lineNumber {number_} appears twice (also at {where})",
                    lr,
                    lx,
                    "lineNumber",
                )
            seen_numbers[number_] = f"row {lr}" if lr is not None else lx
        if net is None or ltax is None:
            sums_ok = False
        else:
            net_sum += net
            tax_sum += ltax
        if (
            qty is not None
            and price is not None
            and net is not None
            and currency is not None
            and round_money(qty * price, currency) != round_money(net, currency)
        ):
            f.warn(
                "line_net_mismatch",
                f"quantity {qty} x unitPrice {price} = {qty * price}, lineNetAmount is {net}",
                lr,
                lx,
                "lineNetAmount",
            )
        if number_ is None or ltype is None or net is None or ltax is None:
            continue
        lines.append(
            InvoiceLine(
                line_number=number_,
                line_type=LineType(ltype),
                line_net_amount=net,
                line_tax_amount=ltax,
                gl_account=gl,
                item_code=item,
                line_description=f.text(v, "lineDescription", lr, lx),
                quantity=qty,
                unit_price=price,
                tax_code=f.text(v, "taxCode", lr, lx),
                tax_rate=rate_pct,
                department=f.text(v, "department", lr, lx),
                cost_center=f.text(v, "costCenter", lr, lx),
                location=f.text(v, "location", lr, lx),
                class_=f.text(v, "class", lr, lx),
                project=f.text(v, "project", lr, lx),
                po_line_number=f.text(v, "poLineNumber", lr, lx),
                custom=dict(line.custom),
                extra=dict(line.extra),
                row=lr,
                xpath=lx,
            )
        )

    if currency is not None and sums_ok and raw.lines:
        if subtotal is not None and not _close(net_sum, subtotal, currency, ctx.tolerance):
            f.fail(
                "subtotal_mismatch",
                f"lines sum to {net_sum} but subtotalAmount is {subtotal}",
                row,
                xp,
                "subtotalAmount",
            )
        if tax is not None and not _close(tax_sum, tax, currency, ctx.tolerance):
            f.fail(
                "tax_mismatch", f"line taxes sum to {tax_sum} but taxAmount is {tax}", row, xp, "taxAmount"
            )
    if (
        currency is not None
        and subtotal is not None
        and tax is not None
        and total is not None
        and not _close(subtotal + tax, total, currency, ctx.tolerance)
    ):
        f.fail(
            "total_mismatch",
            f"subtotalAmount {subtotal} + taxAmount {tax} = {subtotal + tax}, totalAmount is {total}",
            row,
            xp,
            "totalAmount",
        )
    if doc_type is not None:
        for name, amount in (("totalAmount", total), ("subtotalAmount", subtotal)):
            if amount is None:
                continue
            if doc_type == "INVOICE" and amount < 0:
                f.fail("sign_mismatch", f"an INVOICE has negative {name} {amount}", row, xp, name)
            elif doc_type == "CREDIT_NOTE" and amount > 0:
                f.fail("sign_mismatch", f"a CREDIT_NOTE has positive {name} {amount}", row, xp, name)

    # Optional texts are read (and checked) before deciding: a control character rejects too.
    optional = {
        name: f.text(h, name, row, xp)
        for name in (
            "originalInvoiceNumber",
            "vendorTaxId",
            "paymentTerms",
            "paymentReference",
            "paymentReferenceType",
            "poNumber",
            "description",
        )
    }
    if _has_errors(issues) or not (company and doc_type and number and vendor_id and vendor_name and status):
        return None, issues
    if not (isinstance(invoice_date, date) and isinstance(due_date, date) and isinstance(currency, str)):
        return None, issues
    invoice = Invoice(
        stampli_company_id=company,
        stampli_invoice_id=invoice_id,
        document_type=DocumentType(doc_type),
        invoice_number=number,
        vendor_id=vendor_id,
        vendor_name=vendor_name,
        invoice_date=invoice_date,
        due_date=due_date,
        currency=currency,
        subtotal_amount=subtotal,
        tax_amount=tax,
        total_amount=total,
        approval_status=status,
        approved_at=approved_at,
        exported_at=exported_at,
        lines=tuple(lines),
        provenance=Provenance(ctx.remote_path, ctx.sha256, rows=raw.rows, xpath=raw.xpath),
        stampli_link=link,
        original_invoice_number=optional["originalInvoiceNumber"],
        vendor_tax_id=optional["vendorTaxId"],
        posting_date=posting_date,
        exchange_rate=rate,
        payment_terms=optional["paymentTerms"],
        payment_reference=optional["paymentReference"],
        payment_reference_type=optional["paymentReferenceType"],
        po_number=optional["poNumber"],
        description=optional["description"],
        approvers=approvers,
        custom=dict(raw.custom),
        extra=dict(raw.extra),
    )
    return invoice, issues


def build_payment(raw: RawDocument, ctx: BuildContext) -> tuple[Payment | None, list[Issue]]:
    issues: list[Issue] = list(raw.issues)
    key = raw.key()
    f = _Fields(ctx, key, issues, set())
    h, row, xp = raw.header, raw.first_row, raw.xpath

    company = f.text(h, "stampliCompanyId", row, xp, req=True)
    payment_id = f.text(h, "stampliPaymentId", row, xp, req=True)
    pay_date = f.typed(h, "paymentDate", row, xp, "date", req=True)
    method = f.text(h, "paymentMethod", row, xp, req=True)
    status = f.enum(h, "paymentStatus", row, xp, _PAY_STATUSES, req=True)
    if status is not None and status not in BOOKED_PAYMENT_STATUSES:
        f.fail(
            "not_paid",
            f"paymentStatus {status}: only a payment Stampli reports as PAID is booked (skipped)",
            row,
            xp,
            "paymentStatus",
        )
    currency = f.typed(h, "paymentCurrency", row, xp, "currency", req=True)
    amount = f.typed(h, "paymentAmount", row, xp, "money", req=True, currency=currency)
    rate = f.typed(h, "exchangeRate", row, xp, "amount")
    _check_rate(f, rate, row, xp)
    vendor_id = f.text(h, "vendorId", row, xp, req=True)
    voided_at = f.typed(h, "voidedAt", row, xp, "timestamp")
    exported_at = f.typed(h, "exportedAt", row, xp, "timestamp", req=True)
    if status == "VOIDED" and voided_at is None and "voidedAt" not in {i.field for i in issues}:
        f.warn("void_without_timestamp", "paymentStatus is VOIDED but voidedAt is empty", row, xp, "voidedAt")
    if amount is not None and amount < 0:
        f.fail("sign_mismatch", f"paymentAmount {amount} is negative", row, xp, "paymentAmount")

    if len(raw.lines) > ctx.max_lines:
        f.fail("too_many_lines", f"{len(raw.lines)} applications; the limit is {ctx.max_lines}", row, xp, "")
        return None, issues
    apps: list[PaymentApplication] = []
    seen: set[str] = set()
    applied_sum = Decimal(0)
    sum_ok = True
    same_currency = True
    for line in raw.lines:
        v, lr, lx = line.values, line.row, line.xpath
        inv_id = f.text(v, "stampliInvoiceId", lr, lx, req=True)
        inv_no = f.text(v, "invoiceNumber", lr, lx, req=True)
        doc_type = f.enum(v, "documentType", lr, lx, _DOC_TYPES, req=True)
        inv_cur = f.typed(v, "invoiceCurrency", lr, lx, "currency", req=True)
        applied = f.typed(v, "appliedAmount", lr, lx, "money", req=True, currency=inv_cur)
        discount = f.typed(v, "discountAmount", lr, lx, "money", currency=inv_cur)
        if inv_id is not None:
            if inv_id in seen:
                f.fail(
                    "duplicate_application",
                    f"the payment applies to stampliInvoiceId {inv_id} twice",
                    lr,
                    lx,
                    "stampliInvoiceId",
                )
            seen.add(inv_id)
        if applied is not None and doc_type is not None:
            if doc_type == "INVOICE" and applied < 0:
                f.fail(
                    "sign_mismatch",
                    f"appliedAmount {applied} is negative for an INVOICE",
                    lr,
                    lx,
                    "appliedAmount",
                )
            if doc_type == "CREDIT_NOTE" and applied > 0:
                f.fail(
                    "sign_mismatch",
                    f"appliedAmount {applied} is positive for a CREDIT_NOTE",
                    lr,
                    lx,
                    "appliedAmount",
                )
        if applied is None:
            sum_ok = False
        else:
            applied_sum += applied
        if inv_cur is not None and inv_cur != currency:
            same_currency = False
        if inv_id is None or inv_no is None or doc_type is None or inv_cur is None or applied is None:
            continue
        apps.append(
            PaymentApplication(
                stampli_invoice_id=inv_id,
                invoice_number=inv_no,
                document_type=DocumentType(doc_type),
                invoice_currency=inv_cur,
                applied_amount=applied,
                discount_amount=discount,
                row=lr,
                xpath=lx,
            )
        )
    if not raw.lines:
        f.fail("missing_value", "the payment has no applications", row, xp, "applications")
    # Cross-currency applications cannot be checked without the invoice-to-payment rate.
    if (
        sum_ok
        and same_currency
        and raw.lines
        and amount is not None
        and currency is not None
        and not _close(applied_sum, amount, currency, ctx.tolerance)
    ):
        f.fail(
            "payment_amount_mismatch",
            f"appliedAmount sums to {applied_sum} but paymentAmount is {amount}",
            row,
            xp,
            "paymentAmount",
        )
    optional = {
        name: f.text(h, name, row, xp)
        for name in (
            "paymentNumber",
            "paymentSource",
            "checkNumber",
            "bankAccount",
            "vendorName",
            "remittanceReference",
            "voidReason",
        )
    }
    if _has_errors(issues) or not (company and payment_id and method and status and vendor_id):
        return None, issues
    if not (isinstance(pay_date, date) and isinstance(amount, Decimal) and isinstance(currency, str)):
        return None, issues
    payment = Payment(
        stampli_company_id=company,
        stampli_payment_id=payment_id,
        payment_date=pay_date,
        payment_method=method,
        payment_status=status,
        payment_currency=currency,
        payment_amount=amount,
        vendor_id=vendor_id,
        exported_at=exported_at,
        applications=tuple(apps),
        provenance=Provenance(ctx.remote_path, ctx.sha256, rows=raw.rows, xpath=raw.xpath),
        payment_number=optional["paymentNumber"],
        payment_source=optional["paymentSource"],
        check_number=optional["checkNumber"],
        bank_account=optional["bankAccount"],
        exchange_rate=rate,
        vendor_name=optional["vendorName"],
        remittance_reference=optional["remittanceReference"],
        voided_at=voided_at,
        void_reason=optional["voidReason"],
        extra=dict(raw.extra),
    )
    return payment, issues


# ---- fast path for CSV invoices -------------------------------------------------------------------

_PLAIN_POINT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_PLAIN_COMMA = re.compile(r"[+-]?[0-9]+(?:,[0-9]+)?")
_CACHE_MAX = 20_000  # distinct texts per converter cache; cleared when full (memory stays bounded)
_LINE_TYPE = {t.value: t for t in LineType}
_DOC_TYPE = {t.value: t for t in DocumentType}


_T = TypeVar("_T")


def positional_constructor(cls: type[_T], names: tuple[str, ...]) -> Callable[..., _T]:
    """``make(*values)`` == ``cls(**dict(zip(names, values)))``, but faster for a frozen, slotted
    dataclass whose fields are exactly ``names`` in that order, with a generated ``__init__`` and
    no ``__post_init__``.

    A frozen dataclass sets each field through ``object.__setattr__``, which costs about as much
    as reading the CSV row. For such a class the constructor returned builds a non-frozen twin with
    the very same slots (plain attribute stores) and turns it into ``cls`` by ``__class__``
    assignment: the result is an ordinary frozen ``cls`` instance with the same field values. For
    any other class it just calls ``cls`` with keywords."""
    init = cls.__dict__.get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    if (
        params is None
        or not params.frozen
        or tuple(f.name for f in fields(cls)) != names  # type: ignore[arg-type]
        or getattr(cls, "__slots__", None) != names
        or hasattr(cls, "__post_init__")
        or getattr(getattr(init, "__code__", None), "co_filename", None) != "<string>"  # generated
    ):
        return lambda *values: cls(**dict(zip(names, values, strict=True)))

    def become(self: object) -> None:
        self.__class__ = cls

    twin: Callable[..., _T] = make_dataclass(
        f"_{cls.__name__}Twin",
        names,
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
        namespace={"__post_init__": become, "__module__": __name__},
    )
    try:
        probe = twin(*([None] * len(names)))
    except TypeError:  # the layouts differ after all
        return lambda *values: cls(**dict(zip(names, values, strict=True)))
    assert type(probe) is cls
    return twin


_new_invoice_line = positional_constructor(
    InvoiceLine,
    (
        "line_number",
        "line_type",
        "line_net_amount",
        "line_tax_amount",
        "gl_account",
        "item_code",
        "line_description",
        "quantity",
        "unit_price",
        "tax_code",
        "tax_rate",
        "department",
        "cost_center",
        "location",
        "class_",
        "project",
        "po_line_number",
        "custom",
        "extra",
        "row",
        "xpath",
    ),
)
_new_invoice = positional_constructor(
    Invoice,
    (
        "stampli_company_id",
        "stampli_invoice_id",
        "document_type",
        "invoice_number",
        "vendor_id",
        "vendor_name",
        "invoice_date",
        "due_date",
        "currency",
        "subtotal_amount",
        "tax_amount",
        "total_amount",
        "approval_status",
        "approved_at",
        "exported_at",
        "lines",
        "provenance",
        "stampli_link",
        "original_invoice_number",
        "vendor_tax_id",
        "posting_date",
        "exchange_rate",
        "payment_terms",
        "payment_reference",
        "payment_reference_type",
        "po_number",
        "description",
        "approvers",
        "custom",
        "extra",
    ),
)


class _Bail(Exception):
    """The fast path saw something the generic path would report: let that path decide."""


class CsvInvoiceBuilder:
    """Builds an ``Invoice`` straight from one document's CSV rows when the document is clean.

    ``build`` returns the same ``Invoice`` that ``build_invoice(_document(plan, group), ctx)``
    returns when that path finds no issue at all, and None in every other case (any error, any
    warning, header fields that differ between rows), so the caller runs the generic path for the
    exact issues. The speed comes from precomputed column positions, comparing the invoice-level
    cells of later rows with the first row's as raw text, and caching the parsed value of every
    amount, date, timestamp, line number and line type cell text seen in the file."""

    def __init__(self, header: HeaderMap, ctx: BuildContext) -> None:
        idx = header.index
        self.ctx = ctx
        self.rules = ctx.rules
        doc_names = [c for c in INVOICE_HEADER_COLUMNS + INVOICE_EXTENSION_COLUMNS if c in idx]
        self.doc_cells = itemgetter(*(idx[c] for c in doc_names)) if len(doc_names) > 1 else None
        # Position of each invoice-level field in the doc_cells tuple; absent columns point at
        # the empty cell appended to it.
        self.at = {c: doc_names.index(c) if c in idx else len(doc_names) for c in INVOICE_HEADER_COLUMNS}
        self.at["paymentReferenceType"] = (
            doc_names.index("paymentReferenceType") if "paymentReferenceType" in idx else len(doc_names)
        )
        # The invoice-level id cells (the line rows are checked whole with isprintable).
        self.head_ids = itemgetter(
            *(self.at[c] for c in ("stampliCompanyId", "stampliInvoiceId", "vendorId", "invoiceNumber"))
        )
        self.line_col = {c: idx.get(c) for c in INVOICE_LINE_COLUMNS}
        self.custom = dict(header.custom)
        self.extra = dict(header.extra)
        rules = ctx.rules
        plain = {".": _PLAIN_POINT, ",": _PLAIN_COMMA}.get(rules.decimal_sep)
        # Under the comma rule every amount goes through ValueRules (``7.450`` is ambiguous there).
        self.plain = plain if rules.thousands_sep is None and not rules.comma_rule else None
        self.comma = rules.decimal_sep == ","
        # Caches keyed by the cell text as written (before strip).
        self.amounts: dict[str, Decimal] = {}
        self.dates: dict[str, date] = {}
        self.stamps: dict[str, datetime] = {}
        self.ints: dict[str, int] = {}
        self.line_types: dict[str, LineType] = {}
        self.exps: dict[str, Decimal] = {}
        self.places: dict[str, int] = {}  # decimals written in an amount cell (trailing zeros too)

    # -- converters of one stripped, non-empty text: the value, or _Bail when the generic path
    # -- would report something ------------------------------------------------------------------

    def amount(self, cell: str) -> Decimal | None:
        """The amount in a cell, None when it is blank."""
        text = cell.strip()
        if not text:
            return None
        plain = self.plain
        if plain is not None and len(text) <= 16 and plain.fullmatch(text):
            # at most 16 characters: in range (<= 16 integer digits), finite, as parse_amount reads it
            digits = text.replace(",", ".") if self.comma else text
            value = Decimal(digits)
        else:
            try:
                value = self.rules.amount(text)
            except BadValue:
                raise _Bail from None
            digits = str(value)
        if len(self.amounts) >= _CACHE_MAX:
            self.amounts.clear()
            self.places.clear()
        self.amounts[cell] = value
        dot = digits.find(".")
        # An exponent form ("0E-7") counts as too many decimals: the generic path decides.
        self.places[cell] = 99 if "E" in digits else (len(digits) - dot - 1 if dot >= 0 else 0)
        return value

    def date(self, text: str) -> date:
        value = self.dates.get(text)
        if value is None:
            try:
                value = self.rules.date(text)
            except BadValue:
                raise _Bail from None
            if len(self.dates) >= _CACHE_MAX:
                self.dates.clear()
            self.dates[text] = value
        return value

    def timestamp(self, text: str) -> datetime:
        value = self.stamps.get(text)
        if value is None:
            try:
                value, naive = self.rules.timestamp(text)
            except BadValue:
                raise _Bail from None
            if naive:  # the generic path warns (naive_timestamp)
                raise _Bail
            if len(self.stamps) >= _CACHE_MAX:
                self.stamps.clear()
            self.stamps[text] = value
        return value

    def line_number(self, cell: str) -> int:
        text = cell.strip()
        if not text:
            raise _Bail
        try:
            value = self.rules.integer(text)
        except BadValue:
            raise _Bail from None
        if len(self.ints) >= _CACHE_MAX:
            self.ints.clear()
        self.ints[cell] = value
        return value

    def line_type(self, cell: str) -> LineType:
        value = _LINE_TYPE.get(cell.strip().upper())
        if value is None:
            raise _Bail
        if len(self.line_types) < _CACHE_MAX:
            self.line_types[cell] = value
        return value

    def exp(self, currency: str) -> Decimal:
        exp = self.exps.get(currency)
        if exp is None:
            exp = self.exps[currency] = Decimal(1).scaleb(-minor_units(currency))
        return exp

    # -- the document ------------------------------------------------------------------------

    def build(self, group: list[tuple[int, list[str]]]) -> Invoice | None:
        try:
            return self._build(group)
        except _Bail:
            return None

    def _build(self, group: list[tuple[int, list[str]]]) -> Invoice | None:
        ctx = self.ctx
        cells = self.doc_cells
        if len(group) > ctx.max_lines or cells is None:
            return None
        first = group[0][1]
        raw_head = cells(first)
        if len(group) > 1:
            for _, row in group[1:]:
                if cells(row) != raw_head:  # header_mismatch
                    return None
        raw_head += ("",)
        head = list(map(str.strip, raw_head))
        at = self.at
        head_ids = self.head_ids
        company = head[at["stampliCompanyId"]]
        doc_type = _DOC_TYPE.get(head[at["documentType"]].upper())
        number = head[at["invoiceNumber"]]
        vendor_id = head[at["vendorId"]]
        vendor_name = head[at["vendorName"]]
        currency = head[at["currency"]]
        status = head[at["approvalStatus"]].upper()
        if not (company and doc_type and number and vendor_id and vendor_name and status):
            return None  # missing_value / invalid_value
        if not is_currency_code(currency) or status not in ctx.approved_statuses:
            return None
        invoice_date = self.date(head[at["invoiceDate"]] or _missing())
        due_date = self.date(head[at["dueDate"]] or _missing())
        raw = head[at["postingDate"]]
        posting_date = self.date(raw) if raw else None
        amounts = self.amounts
        amount = self.amount
        raw = raw_head[at["exchangeRate"]]
        rate = amounts.get(raw) or amount(raw)
        if rate is not None and rate <= 0:
            return None  # invalid_amount
        subtotal = amounts.get(raw := raw_head[at["subtotalAmount"]]) or amount(raw)
        tax = amounts.get(raw := raw_head[at["taxAmount"]]) or amount(raw)
        total = amounts.get(raw := raw_head[at["totalAmount"]]) or amount(raw)
        if subtotal is None or tax is None or total is None:
            return None  # missing_value
        minor = minor_units(currency)
        pget = self.places.get  # a cell missing here (cache just cleared) counts as too fine: bail
        if (
            pget(raw_head[at["subtotalAmount"]], 99) > minor
            or pget(raw_head[at["taxAmount"]], 99) > minor
            or pget(raw_head[at["totalAmount"]], 99) > minor
        ):
            return None  # maybe finer than the currency's minor unit: the generic path decides
        approved_at = self.timestamp(head[at["approvedAt"]] or _missing())
        exported_at = self.timestamp(head[at["exportedAt"]] or _missing())
        link = head[at["stampliLink"]] or None
        if link is not None and not link.startswith(("https://", "http://")):
            return None
        raw = head[at["approvers"]]
        approvers = tuple(a.strip() for a in raw.split("|") if a.strip()) if raw else ()

        # Custom fields: the same value on every row belongs to the invoice; otherwise to the line.
        doc_custom: dict[str, str] = {}
        line_custom: list[tuple[str, int]] = []
        for name, pos in self.custom.items():
            if len({row[pos] for _, row in group}) == 1:
                if first[pos]:
                    doc_custom[name] = first[pos]
            else:
                line_custom.append((name, pos))
        extra = self.extra

        col = self.line_col

        def column(name: str) -> int:
            """The column of a line field; -1 (the empty cell appended to each row view) if absent."""
            i = col[name]
            return -1 if i is None else i

        i_num, i_type, i_net, i_tax = (
            column("lineNumber"),
            column("lineType"),
            column("lineNetAmount"),
            column("lineTaxAmount"),
        )
        i_gl, i_item, i_desc, i_code = (
            column("glAccount"),
            column("itemCode"),
            column("lineDescription"),
            column("taxCode"),
        )
        i_qty, i_price, i_rate = column("quantity"), column("unitPrice"), column("taxRate")
        i_dept, i_cost, i_loc = column("department"), column("costCenter"), column("location")
        i_cls, i_proj, i_po = column("class"), column("project"), column("poLineNumber")
        missing = -1
        pad = missing in (
            i_gl,
            i_item,
            i_desc,
            i_code,
            i_qty,
            i_price,
            i_rate,
            i_dept,
            i_cost,
            i_loc,
            i_cls,
            i_proj,
            i_po,
        )
        aget = amounts.get
        iget = self.ints.get
        tget = self.line_types.get
        exp = self.exp(currency)
        gl_type = LineType.GL
        new_line = _new_invoice_line
        item_type = LineType.ITEM
        lines: list[InvoiceLine] = []
        seen: set[int] = set()
        net_sum = Decimal(0)
        tax_sum = Decimal(0)
        if not all(map(_plain_id, head_ids(raw_head))):
            return None  # an id the generic path would refuse or normalise (NFC)
        for rn, row in group:
            if not "".join(row).isprintable():
                return None  # maybe a control character: the generic path decides
            if pad:
                row = [*row, ""]  # a view with the empty cell at index -1
            cell = row[i_num]
            number_ = iget(cell)
            if number_ is None:
                number_ = self.line_number(cell)
            if number_ in seen:
                return None  # duplicate_line_number
            seen.add(number_)
            cell = row[i_type]
            line_type = tget(cell) or self.line_type(cell)
            gl = row[i_gl].strip() or None
            item = row[i_item].strip() or None
            if (gl is None and line_type is gl_type) or (item is None and line_type is item_type):
                return None
            qty = aget(cell := row[i_qty]) or amount(cell)
            price = aget(cell := row[i_price]) or amount(cell)
            net = aget(cell := row[i_net]) or amount(cell)
            ltax = aget(cell := row[i_tax]) or amount(cell)
            rate_pct = aget(cell := row[i_rate]) or amount(cell)
            if net is None or ltax is None:
                return None
            if pget(row[i_net], 99) > minor or pget(row[i_tax], 99) > minor:
                return None
            net_sum += net
            tax_sum += ltax
            if qty is not None and price is not None:
                product = qty * price
                if product != net and product.quantize(exp, rounding=ROUND_HALF_EVEN) != net.quantize(
                    exp, rounding=ROUND_HALF_EVEN
                ):
                    return None  # line_net_mismatch (a warning)
            lines.append(
                new_line(  # InvoiceLine, fields in order
                    number_,
                    line_type,
                    net,
                    ltax,
                    gl,
                    item,
                    row[i_desc] or None,
                    qty,
                    price,
                    row[i_code].strip() or None,
                    rate_pct,
                    row[i_dept].strip() or None,
                    row[i_cost].strip() or None,
                    row[i_loc].strip() or None,
                    row[i_cls].strip() or None,
                    row[i_proj].strip() or None,
                    row[i_po].strip() or None,
                    {n: row[p] for n, p in line_custom if row[p]} if line_custom else {},
                    {n: row[p] for n, p in extra.items() if row[p]} if extra else {},
                    rn,
                    None,
                )
            )
        tolerance = ctx.tolerance

        def close(a: Decimal, b: Decimal) -> bool:
            return (
                abs(a.quantize(exp, rounding=ROUND_HALF_EVEN) - b.quantize(exp, rounding=ROUND_HALF_EVEN))
                <= tolerance
            )

        if not (close(net_sum, subtotal) and close(tax_sum, tax) and close(subtotal + tax, total)):
            return None  # subtotal_mismatch / tax_mismatch / total_mismatch
        if doc_type is DocumentType.INVOICE and (total < 0 or subtotal < 0):
            return None
        if doc_type is DocumentType.CREDIT_NOTE and (total > 0 or subtotal > 0):
            return None
        return _new_invoice(  # Invoice, fields in order
            company,
            head[at["stampliInvoiceId"]] or None,
            doc_type,
            number,
            vendor_id,
            vendor_name,
            invoice_date,
            due_date,
            currency,
            subtotal,
            tax,
            total,
            status,
            approved_at,
            exported_at,
            tuple(lines),
            Provenance(ctx.remote_path, ctx.sha256, rows=tuple(rn for rn, _ in group), xpath=None),
            link,
            head[at["originalInvoiceNumber"]] or None,
            head[at["vendorTaxId"]] or None,
            posting_date,
            rate,
            raw_head[at["paymentTerms"]] or None,
            head[at["paymentReference"]] or None,
            head[at["paymentReferenceType"]] or None,
            head[at["poNumber"]] or None,
            raw_head[at["description"]] or None,
            approvers,
            doc_custom,
            {},
        )


def _plain_id(text: str) -> bool:
    """An id the generic path takes as it is (see ``_Fields.text``): no refused character, NFC."""
    return text.isascii() or (text.isprintable() and unicodedata.is_normalized("NFC", text.strip()))


def _missing() -> NoReturn:
    """A required field is empty (missing_value): the generic path reports it."""
    raise _Bail
