"""Raw records (text by canonical field name) to canonical documents, with every §4.7 check.

Both readers (CSV and XML) produce ``RawDocument``s; this module is the one place that turns text
into ``Invoice`` / ``Payment`` and decides whether a document is rejected. It never raises for bad
data: it returns the document (or None) and the issues it found, all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter
from typing import Any, Literal

from ml_connector.domain.documents import (
    DocumentType,
    Invoice,
    InvoiceLine,
    LineType,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Provenance,
    normalize_invoice_number,
)
from ml_connector.domain.issues import Issue, Level, error, warning
from ml_connector.domain.money import is_currency_code, minor_units, round_money
from ml_connector.stampli.columns import (
    INVOICE_EXTENSION_COLUMNS,
    INVOICE_HEADER_COLUMNS,
    INVOICE_LINE_COLUMNS,
    HeaderMap,
)
from ml_connector.stampli.values import BadValue, ValueRules

# Free text is kept exactly as written; every other field is trimmed.
_VERBATIM = frozenset({"description", "lineDescription", "voidReason", "paymentTerms"})


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
            return f"PAY:{pid}" if pid else None
        iid = (h.get("stampliInvoiceId") or "").strip()
        if iid:
            return f"INV:{iid}"
        parts = [h.get(k) for k in ("stampliCompanyId", "vendorId", "invoiceNumber", "documentType")]
        if all(parts):
            company, vendor, number, doc_type = (str(p).strip() for p in parts)
            return f"INVX:{company}:{vendor}:{normalize_invoice_number(number)}:{doc_type.upper()}"
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
    ) -> Any:
        raw = self.text(src, name, row, xpath, req=req)
        if raw is None:
            return None
        rules = self.ctx.rules
        try:
            if kind == "amount":
                return rules.amount(raw)
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
    subtotal = f.typed(h, "subtotalAmount", row, xp, "amount", req=True)
    tax = f.typed(h, "taxAmount", row, xp, "amount", req=True)
    total = f.typed(h, "totalAmount", row, xp, "amount", req=True)
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
        net = f.typed(v, "lineNetAmount", lr, lx, "amount", req=True)
        ltax = f.typed(v, "lineTaxAmount", lr, lx, "amount", req=True)
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
        original_invoice_number=f.text(h, "originalInvoiceNumber", row, xp),
        vendor_tax_id=f.text(h, "vendorTaxId", row, xp),
        posting_date=posting_date,
        exchange_rate=rate,
        payment_terms=f.text(h, "paymentTerms", row, xp),
        payment_reference=f.text(h, "paymentReference", row, xp),
        payment_reference_type=f.text(h, "paymentReferenceType", row, xp),
        po_number=f.text(h, "poNumber", row, xp),
        description=f.text(h, "description", row, xp),
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
    currency = f.typed(h, "paymentCurrency", row, xp, "currency", req=True)
    amount = f.typed(h, "paymentAmount", row, xp, "amount", req=True)
    rate = f.typed(h, "exchangeRate", row, xp, "amount")
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
        applied = f.typed(v, "appliedAmount", lr, lx, "amount", req=True)
        discount = f.typed(v, "discountAmount", lr, lx, "amount")
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
        payment_number=f.text(h, "paymentNumber", row, xp),
        payment_source=f.text(h, "paymentSource", row, xp),
        check_number=f.text(h, "checkNumber", row, xp),
        bank_account=f.text(h, "bankAccount", row, xp),
        exchange_rate=rate,
        vendor_name=f.text(h, "vendorName", row, xp),
        remittance_reference=f.text(h, "remittanceReference", row, xp),
        voided_at=voided_at,
        void_reason=f.text(h, "voidReason", row, xp),
        extra=dict(raw.extra),
    )
    return payment, issues


# ---- fast path for CSV invoices -------------------------------------------------------------------

_PLAIN_POINT = re.compile(r"[+-]?\d+(?:\.\d+)?")
_PLAIN_COMMA = re.compile(r"[+-]?\d+(?:,\d+)?")
_CACHE_MAX = 20_000  # distinct texts per converter cache; cleared when full (memory stays bounded)
_LINE_TYPE = {t.value: t for t in LineType}
_DOC_TYPE = {t.value: t for t in DocumentType}


class _Bail(Exception):
    """The fast path saw something the generic path would report: let that path decide."""


class CsvInvoiceBuilder:
    """Builds an ``Invoice`` straight from one document's CSV rows when the document is clean.

    ``build`` returns the same ``Invoice`` that ``build_invoice(_document(plan, group), ctx)``
    returns when that path finds no issue at all, and None in every other case (any error, any
    warning, header fields that differ between rows), so the caller runs the generic path for the
    exact issues. The speed comes from precomputed column positions, comparing the invoice-level
    cells of later rows with the first row's as raw text, and caching the parsed value of every
    amount, date, timestamp and line number text seen in the file."""

    def __init__(self, header: HeaderMap, ctx: BuildContext) -> None:
        idx = header.index
        self.ctx = ctx
        self.rules = ctx.rules
        self.col = {name: idx.get(name) for name in INVOICE_HEADER_COLUMNS + INVOICE_LINE_COLUMNS}
        self.col["paymentReferenceType"] = idx.get("paymentReferenceType")
        doc_cols = [idx[c] for c in INVOICE_HEADER_COLUMNS + INVOICE_EXTENSION_COLUMNS if c in idx]
        self.doc_cells = itemgetter(*doc_cols) if len(doc_cols) > 1 else None
        self.custom = dict(header.custom)
        self.extra = dict(header.extra)
        rules = ctx.rules
        self.plain = (
            None
            if rules.thousands_sep is not None
            else (
                _PLAIN_POINT
                if rules.decimal_sep == "."
                else _PLAIN_COMMA
                if rules.decimal_sep == ","
                else None
            )
        )
        self.comma = rules.decimal_sep == ","
        self.amounts: dict[str, Decimal] = {}
        self.dates: dict[str, date] = {}
        self.stamps: dict[str, datetime] = {}
        self.ints: dict[str, int] = {}
        self.exps: dict[str, Decimal] = {}

    # -- converters: the value, or _Bail when the generic path would report something ----------

    def amount(self, text: str) -> Decimal:
        value = self.amounts.get(text)
        if value is not None:
            return value
        plain = self.plain
        if plain is not None and len(text) <= 16 and plain.fullmatch(text):
            # at most 16 characters: in range (<= 16 integer digits), finite, as parse_amount reads it
            value = Decimal(text.replace(",", ".") if self.comma else text)
        else:
            try:
                value = self.rules.amount(text)
            except BadValue:
                raise _Bail from None
        if len(self.amounts) >= _CACHE_MAX:
            self.amounts.clear()
        self.amounts[text] = value
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

    def integer(self, text: str) -> int:
        value = self.ints.get(text)
        if value is None:
            try:
                value = self.rules.integer(text)
            except BadValue:
                raise _Bail from None
            if len(self.ints) >= _CACHE_MAX:
                self.ints.clear()
            self.ints[text] = value
        return value

    def rounded(self, amount: Decimal, currency: str) -> Decimal:
        exp = self.exps.get(currency)
        if exp is None:
            exp = self.exps[currency] = Decimal(1).scaleb(-minor_units(currency))
        return amount.quantize(exp, rounding=ROUND_HALF_EVEN)

    def close(self, a: Decimal, b: Decimal, currency: str) -> bool:
        return abs(self.rounded(a, currency) - self.rounded(b, currency)) <= self.ctx.tolerance

    # -- the document ------------------------------------------------------------------------

    def build(self, group: list[tuple[int, list[str]]]) -> Invoice | None:
        try:
            return self._build(group)
        except _Bail:
            return None

    def _build(self, group: list[tuple[int, list[str]]]) -> Invoice | None:
        ctx = self.ctx
        if len(group) > ctx.max_lines:
            return None
        first = group[0][1]
        cells = self.doc_cells
        if cells is None:
            return None
        if len(group) > 1:
            head = cells(first)
            for _, row in group[1:]:
                if cells(row) != head:  # header_mismatch
                    return None
        col = self.col

        def text(name: str, *, req: bool = False) -> str | None:
            i = col[name]
            value = first[i].strip() if i is not None else ""
            if not value:
                if req:
                    raise _Bail
                return None
            return value

        def verbatim(name: str) -> str | None:
            i = col[name]
            return (first[i] or None) if i is not None else None

        def req(name: str) -> str:
            value = text(name, req=True)
            assert value is not None
            return value

        company = req("stampliCompanyId")
        invoice_id = text("stampliInvoiceId")
        doc_type = _DOC_TYPE.get(req("documentType").upper())
        if doc_type is None:
            return None
        number = req("invoiceNumber")
        vendor_id = req("vendorId")
        vendor_name = req("vendorName")
        invoice_date = self.date(req("invoiceDate"))
        due_date = self.date(req("dueDate"))
        raw = text("postingDate")
        posting_date = self.date(raw) if raw is not None else None
        currency = req("currency")
        if not is_currency_code(currency):
            return None
        raw = text("exchangeRate")
        rate = self.amount(raw) if raw is not None else None
        subtotal = self.amount(req("subtotalAmount"))
        tax = self.amount(req("taxAmount"))
        total = self.amount(req("totalAmount"))
        status = req("approvalStatus").upper()
        approved_at = self.timestamp(req("approvedAt"))
        exported_at = self.timestamp(req("exportedAt"))
        link = text("stampliLink")
        if link is not None and not link.startswith(("https://", "http://")):
            return None
        if status not in ctx.approved_statuses:
            return None
        raw = text("approvers")
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

        i_num, i_type, i_gl, i_item = col["lineNumber"], col["lineType"], col["glAccount"], col["itemCode"]
        i_qty, i_price, i_net, i_tax = (
            col["quantity"],
            col["unitPrice"],
            col["lineNetAmount"],
            col["lineTaxAmount"],
        )
        i_rate, i_desc, i_code = col["taxRate"], col["lineDescription"], col["taxCode"]
        optional = [
            col[c] for c in ("department", "costCenter", "location", "class", "project", "poLineNumber")
        ]
        assert i_num is not None and i_type is not None and i_net is not None and i_tax is not None
        amount = self.amount
        cached = self.amounts.get
        rounded = self.rounded
        i_dept, i_cost, i_loc, i_cls, i_proj, i_po = optional
        lines: list[InvoiceLine] = []
        seen: set[int] = set()
        net_sum = Decimal(0)
        tax_sum = Decimal(0)
        for rn, row in group:
            raw = row[i_num].strip()
            if not raw:
                return None
            number_ = self.ints.get(raw)
            if number_ is None:
                number_ = self.integer(raw)
            if number_ in seen:
                return None
            seen.add(number_)
            line_type = _LINE_TYPE.get(row[i_type].strip().upper())
            if line_type is None:
                return None
            gl = (row[i_gl].strip() or None) if i_gl is not None else None
            item = (row[i_item].strip() or None) if i_item is not None else None
            if (line_type is LineType.GL and gl is None) or (line_type is LineType.ITEM and item is None):
                return None
            qty = price = rate_pct = None
            if i_qty is not None and (raw := row[i_qty].strip()):
                qty = cached(raw) or amount(raw)
            if i_price is not None and (raw := row[i_price].strip()):
                price = cached(raw) or amount(raw)
            raw = row[i_net].strip()
            if not raw:
                return None
            net = cached(raw) or amount(raw)
            raw = row[i_tax].strip()
            if not raw:
                return None
            ltax = cached(raw) or amount(raw)
            if i_rate is not None and (raw := row[i_rate].strip()):
                rate_pct = cached(raw) or amount(raw)
            net_sum += net
            tax_sum += ltax
            if qty is not None and price is not None:
                product = qty * price
                if product != net and rounded(product, currency) != rounded(net, currency):
                    return None  # line_net_mismatch (a warning)
            lines.append(
                InvoiceLine(
                    line_number=number_,
                    line_type=line_type,
                    line_net_amount=net,
                    line_tax_amount=ltax,
                    gl_account=gl,
                    item_code=item,
                    line_description=(row[i_desc] or None) if i_desc is not None else None,
                    quantity=qty,
                    unit_price=price,
                    tax_code=(row[i_code].strip() or None) if i_code is not None else None,
                    tax_rate=rate_pct,
                    department=(row[i_dept].strip() or None) if i_dept is not None else None,
                    cost_center=(row[i_cost].strip() or None) if i_cost is not None else None,
                    location=(row[i_loc].strip() or None) if i_loc is not None else None,
                    class_=(row[i_cls].strip() or None) if i_cls is not None else None,
                    project=(row[i_proj].strip() or None) if i_proj is not None else None,
                    po_line_number=(row[i_po].strip() or None) if i_po is not None else None,
                    custom={n: row[p] for n, p in line_custom if row[p]},
                    extra={n: row[p] for n, p in extra.items() if row[p]},
                    row=rn,
                    xpath=None,
                )
            )
        if not self.close(net_sum, subtotal, currency) or not self.close(tax_sum, tax, currency):
            return None
        if not self.close(subtotal + tax, total, currency):
            return None
        if doc_type is DocumentType.INVOICE and (total < 0 or subtotal < 0):
            return None
        if doc_type is DocumentType.CREDIT_NOTE and (total > 0 or subtotal > 0):
            return None
        return Invoice(
            stampli_company_id=company,
            stampli_invoice_id=invoice_id,
            document_type=doc_type,
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
            provenance=Provenance(ctx.remote_path, ctx.sha256, rows=tuple(rn for rn, _ in group), xpath=None),
            stampli_link=link,
            original_invoice_number=text("originalInvoiceNumber"),
            vendor_tax_id=text("vendorTaxId"),
            posting_date=posting_date,
            exchange_rate=rate,
            payment_terms=verbatim("paymentTerms"),
            payment_reference=text("paymentReference"),
            payment_reference_type=text("paymentReferenceType"),
            po_number=text("poNumber"),
            description=verbatim("description"),
            approvers=approvers,
            custom=doc_custom,
            extra={},
        )
