"""Raw records (text by canonical field name) to canonical documents, with every §4.7 check.

Both readers (CSV and XML) produce ``RawDocument``s; this module is the one place that turns text
into ``Invoice`` / ``Payment`` and decides whether a document is rejected. It never raises for bad
data: it returns the document (or None) and the issues it found, all of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import repeat
from typing import Any, Literal

from ml_connector.domain.construct import field_names, positional_constructor
from ml_connector.domain.documents import (
    BOOKED_PAYMENT_STATUSES,
    KEY_FIELDS,
    DocumentType,
    Invoice,
    InvoiceLine,
    LineType,
    Payment,
    PaymentApplication,
    PaymentStatus,
    Provenance,
    normalize_id,
    record_key,
    refused_id_char,
)
from ml_connector.domain.images import image_name_problem
from ml_connector.domain.issues import Issue, Level, error, warning
from ml_connector.domain.money import finer_than_minor_unit, minor_units, round_money
from ml_connector.stampli.value_cache import ValueCache
from ml_connector.stampli.values import BadValue, ValueRules

# Free text is kept exactly as written; every other field is trimmed.
_VERBATIM = frozenset({"description", "lineDescription", "voidReason", "paymentTerms"})
# Identifiers that make keys and references: one normal form (NFC), nothing invisible.
_IDS = frozenset({"stampliCompanyId", "stampliInvoiceId", "stampliPaymentId", "vendorId", "invoiceNumber"})
# Control characters (NUL, ESC, C1 ...) never reach Visma; text keeps its tabs and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(slots=True)
class RawLine:
    # Text by canonical field name; an empty cell may be "" or None (both read as empty).
    values: Mapping[str, str | None]
    custom: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    row: int | None = None
    xpath: str | None = None
    # The same texts in ``LINE_CELLS`` order, when a reader has them by position (an invoice
    # line's rules then read them without one mapping lookup per field); None: read ``values``.
    cells: tuple[str | None, ...] | None = None


@dataclass
class RawDocument:
    kind: Literal["invoice", "payment"]
    header: dict[str, str | None]
    lines: Sequence[RawLine]
    rows: tuple[int, ...] = ()
    xpath: str | None = None
    custom: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    approvers: tuple[str, ...] | None = None  # XML gives a list; CSV has the '|' text in header
    issues: list[Issue] = field(default_factory=list)  # found while grouping (header_mismatch, ...)
    # Each invoice line's texts in ``LINE_CELLS`` order when a reader has them by position (CSV:
    # line i is then row ``rows[i]``, with no custom or extra values); None: read from ``lines``.
    line_cells: Sequence[tuple[str | None, ...]] | None = None

    @property
    def first_row(self) -> int | None:
        return self.rows[0] if self.rows else None

    def key(self) -> str | None:
        return record_key(self.kind, [self.header.get(name) for name in KEY_FIELDS[self.kind]])

    def parsed_json(self) -> dict[str, Any]:
        """Best-effort camelCase view of the raw text, for a rejected record."""
        out: dict[str, Any] = {k: v for k, v in self.header.items() if v}  # an empty cell is not shown
        if self.approvers is not None:
            out["approvers"] = list(self.approvers)
        if self.custom:
            out["custom"] = dict(self.custom)
        if self.extra:
            out["extra"] = dict(self.extra)
        sub = "lines" if self.kind == "invoice" else "applications"
        out[sub] = []
        for line in self.lines:
            d: dict[str, Any] = {k: v for k, v in line.values.items() if v}
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
    # Values already read from this file without an issue (a file's documents share one context).
    cache: ValueCache = field(default_factory=ValueCache, compare=False, repr=False)


class _Fields:
    """Reads typed values from one raw mapping, collecting issues with their location."""

    def __init__(self, ctx: BuildContext, raw: RawDocument, issues: list[Issue], naive: set[str]) -> None:
        self.ctx = ctx
        self.raw = raw
        self.issues = issues
        self.naive = naive
        self.cache = ctx.cache

    @functools.cached_property
    def key(self) -> str | None:
        """The document's key, for the issues' location (only a document with an issue needs it)."""
        return self.raw.key()

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

    def texts(
        self,
        src: Mapping[str, str | None],
        names: tuple[str, ...],
        row: int | None,
        xpath: str | None,
        written: tuple[str | None, ...] | None = None,
    ) -> list[str | None]:
        """``text`` of each optional field in ``names``, in that order (``written``: their texts
        as ``src`` has them, when the caller has them already)."""
        values = tuple(map(src.get, names)) if written is None else written
        if _IDS.isdisjoint(names):
            out = _printable_texts(values, _verbatim_at(names))
            if out is not None:
                return out
        return [self.text(src, name, row, xpath) for name in names]

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
        written = src.get(name)
        cache = self.cache
        if kind == "money" or kind == "amount":
            # read before, or a short plain number with no text to check: no full read
            unit = currency if kind == "money" else None  # a plain amount has no minor unit
            amount = cache.amount_reader(self.ctx.rules, unit)(written)
            if amount is not None:
                return amount
            # money is not remembered (nearly every amount is distinct, see ValueCache.amount_reader)
            table: dict[str, Any] | None = cache.amounts if unit is None else None
        else:
            table = cache.by_kind[kind]
            if written is not None:  # read before without an issue: the same value, no issue
                hit = table.get(written)
                if hit is not None:
                    return hit
        raw: str | None
        if written and written.isascii() and written.isprintable():  # text's common case, inline
            raw = written.strip() or self.text(src, name, row, xpath, req=req)
        else:
            raw = self.text(src, name, row, xpath, req=req)
        if raw is None:
            return None
        rules = self.ctx.rules
        try:
            value: Any
            if kind == "amount":
                value = rules.amount(raw)
            elif kind == "money":
                value = rules.amount(raw)
                if (
                    currency is not None
                    and _decimals_written(raw) > minor_units(currency)  # else it cannot be finer
                    and finer_than_minor_unit(value, currency)
                ):
                    raise BadValue(
                        "invalid_amount",
                        f"{raw!r} has more decimals than {currency} has ({minor_units(currency)}); "
                        "Stampli amounts are in the currency's minor unit",
                    )
            elif kind == "int":
                value = rules.integer(raw)
            elif kind == "date":
                value = rules.date(raw)
            elif kind == "currency":
                value = rules.currency(raw)
            elif kind == "timestamp":
                value, was_naive = rules.timestamp(raw)
                if was_naive:
                    if name not in self.naive:
                        self.naive.add(name)
                        self.warn(
                            "naive_timestamp",
                            f"{name} {raw!r} has no UTC offset; read in the profile's time zone",
                            row,
                            xpath,
                            name,
                        )
                    return value
            else:  # pragma: no cover
                raise AssertionError(kind)
            if table is not None:
                cache.remember(table, written, value)  # type: ignore[arg-type]  # raw is not None
            return value
        except BadValue as exc:
            self.fail(exc.code, f"{name}: {exc.message}", row, xpath, name)
            return None

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
        written = src.get(name)
        table = self.cache.enum_table(name)
        if written is not None:
            hit = table.get(written)
            if hit is not None:
                return hit
        raw = self.text(src, name, row, xpath, req=req)
        if raw is None:
            return None
        value = raw.upper()
        if value in allowed:
            self.cache.remember(table, written, value)  # type: ignore[arg-type]  # raw is not None
        else:
            self.fail(
                "invalid_value",
                f"{name} {raw!r} is not one of {', '.join(sorted(allowed))}",
                row,
                xpath,
                name,
            )
            return None
        return value


@functools.cache
def _verbatim_at(names: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the free-text fields (kept as written, not trimmed) in ``names``."""
    return tuple(i for i, name in enumerate(names) if name in _VERBATIM)


def _printable_texts(values: tuple[str | None, ...], verbatim: tuple[int, ...]) -> list[str | None] | None:
    """``_Fields.texts`` of non-id fields in their common case, all printable (no control character:
    what ``text`` refuses in a non-id field): only the trimming is left (not at ``verbatim``, the
    free texts), and an empty text is no value. None: a text needs ``text``'s full read."""
    joined = "".join(filter(None, values))
    if not joined:
        return [None] * len(values)
    if not joined.isprintable():
        return None
    out = [v.strip() or None if v else None for v in values]
    for i in verbatim:
        out[i] = values[i] or None
    return out


def _plain_text(text: str | None) -> str | None:
    """``text``'s common case for a trimmed, non-id field: plain ASCII, kept trimmed. Anything
    else (empty, blank, another script, a control character) is None: the full read decides."""
    if text and text.isascii() and text.isprintable():
        return text.strip() or None
    return None


def _plain_texts(src: Mapping[str, str | None], names: tuple[str, ...]) -> list[str] | None:
    """``_plain_text`` of each of ``names`` when every one is plain ASCII and not blank, else None."""
    values = tuple(map(src.get, names))
    if None in values:
        return None
    joined = "".join(values)  # type: ignore[arg-type]  # no None in it
    if not (joined.isascii() and joined.isprintable()):
        return None
    out = [text.strip() for text in values]  # type: ignore[union-attr]  # no None in it
    return None if "" in out else out


def _decimals_written(text: str) -> int:
    """Digits after the last '.' or ',' of an amount's text: at least as many decimals as it has."""
    point = max(text.rfind("."), text.rfind(","))
    return len(text) - 1 - point if point >= 0 else 0


_DOC_TYPES = frozenset(t.value for t in DocumentType)
# The invoice's texts read as plain ASCII together (``_plain_texts``), in build_invoice's order.
_INVOICE_PLAIN: tuple[str, ...] = ("stampliCompanyId", "stampliInvoiceId", "invoiceNumber", "vendorId")
_INVOICE_PLAIN += ("vendorName", "approvalStatus")
_NO_PLAIN: tuple[None, ...] = (None,) * len(_INVOICE_PLAIN)
_LINE_TYPES = frozenset(t.value for t in LineType)
# The optional texts of a line, in InvoiceLine's order (read, and checked, in this order).
_LINE_TEXTS: tuple[str, ...] = ("lineDescription", "taxCode", "department", "costCenter")
_LINE_TEXTS += ("location", "class", "project", "poLineNumber")
# The optional texts of an invoice, read (and checked) in this order before deciding.
_INVOICE_TEXTS = (
    "originalInvoiceNumber",
    "vendorTaxId",
    "paymentTerms",
    "paymentReference",
    "paymentReferenceType",
    "poNumber",
    "description",
    "documentFile",
)
# The line's other values, read in one pass over its mapping.
_LINE_VALUES: tuple[str, ...] = ("lineNumber", "lineType", "glAccount", "itemCode", "quantity", "unitPrice")
_LINE_VALUES += ("lineNetAmount", "lineTaxAmount", "taxRate")
# An invoice line's fields in ``RawLine.cells`` order: its other values, then its texts.
LINE_CELLS = _LINE_VALUES + _LINE_TEXTS
_N_VALUES = len(_LINE_VALUES)
_LINE_VERBATIM = _verbatim_at(_LINE_TEXTS)
_DOC_TYPE = {t.value: t for t in DocumentType}
_LINE_TYPE = {t.value: t for t in LineType}
_new_invoice_line = positional_constructor(InvoiceLine, field_names(InvoiceLine))
_new_invoice = positional_constructor(Invoice, field_names(Invoice))
_new_provenance = positional_constructor(Provenance, field_names(Provenance))
_PAY_STATUSES = frozenset(s.value for s in PaymentStatus)


def _line_places(
    raw: RawDocument,
) -> tuple[
    Iterable[tuple[str | None, ...]],
    Iterable[int | None],
    Iterable[str | None],
    Iterable[dict[str, str] | None],
    Iterable[dict[str, str] | None],
]:
    """Each invoice line's texts in ``LINE_CELLS`` order, row, xpath, custom and extra values
    (None: none, the line gets an empty dict of its own)."""
    if raw.line_cells is not None:  # by position (CSV): no RawLine needed
        n = len(raw.line_cells)
        return raw.line_cells, raw.rows, repeat(None, n), repeat(None, n), repeat(None, n)
    lines = raw.lines
    return (
        [line.cells or tuple(map(line.values.get, LINE_CELLS)) for line in lines],
        [line.row for line in lines],
        [line.xpath for line in lines],
        [line.custom for line in lines],
        [line.extra for line in lines],
    )


def _check_rate(f: _Fields, rate: Decimal | None, row: int | None, xpath: str | None) -> None:
    if rate is not None and rate <= 0:
        f.fail("invalid_amount", f"exchangeRate {rate} must be greater than 0", row, xpath, "exchangeRate")


def _close(a: Decimal, b: Decimal, currency: str, tolerance: Decimal) -> bool:
    if a == b and tolerance >= 0:  # equal amounts round equally (the common case)
        return True
    return abs(round_money(a, currency) - round_money(b, currency)) <= tolerance


def _has_errors(issues: list[Issue]) -> bool:
    return any(i.level == Level.ERROR for i in issues)


def build_invoice(raw: RawDocument, ctx: BuildContext) -> tuple[Invoice | None, list[Issue]]:
    issues: list[Issue] = list(raw.issues)
    f = _Fields(ctx, raw, issues, set())
    h, row, xp = raw.header, raw.first_row, raw.xpath

    # Plain ASCII text is kept trimmed without the call (``text``'s common case, ids included).
    # All six plain ASCII (the common case): trimmed in one go; else each takes ``text``'s full read.
    plain = _plain_texts(h, _INVOICE_PLAIN) or _NO_PLAIN
    company = plain[0] or f.text(h, "stampliCompanyId", row, xp, req=True)
    invoice_id = plain[1] or f.text(h, "stampliInvoiceId", row, xp)
    doc_type = f.cache.enum_table("documentType").get(h.get("documentType")) or f.enum(  # type: ignore[arg-type]
        h, "documentType", row, xp, _DOC_TYPES, req=True
    )
    number = plain[2] or f.text(h, "invoiceNumber", row, xp, req=True)
    vendor_id = plain[3] or f.text(h, "vendorId", row, xp, req=True)
    vendor_name = plain[4] or f.text(h, "vendorName", row, xp, req=True)
    # A value already read without an issue is taken from the cache tables directly (what
    # ``typed``/``enum`` would return for it, without the call); a miss (or a falsy value such as
    # a zero) takes the full read, which also reports.
    dates, stamps = f.cache.dates, f.cache.stamps
    invoice_date = dates.get(h.get("invoiceDate")) or f.typed(h, "invoiceDate", row, xp, "date", req=True)  # type: ignore[arg-type]
    due_date = dates.get(h.get("dueDate")) or f.typed(h, "dueDate", row, xp, "date", req=True)  # type: ignore[arg-type]
    written = h.get("postingDate")  # optional: an empty cell is no value and no issue
    posting_date = (dates.get(written) or f.typed(h, "postingDate", row, xp, "date")) if written else None
    currency = f.cache.currencies.get(h.get("currency")) or f.typed(  # type: ignore[arg-type]
        h, "currency", row, xp, "currency", req=True
    )
    # Amounts: the reader gives what ``typed`` would for a value that needs no checking, else None.
    read_amount = f.cache.amount_reader(ctx.rules, None)
    read_money = f.cache.amount_reader(ctx.rules, currency) if currency is not None else read_amount
    written = h.get("exchangeRate")  # optional: an empty cell is no value and no issue
    rate = (read_amount(written) or f.typed(h, "exchangeRate", row, xp, "amount")) if written else None
    _check_rate(f, rate, row, xp)
    subtotal = read_money(h.get("subtotalAmount")) or f.typed(
        h, "subtotalAmount", row, xp, "money", req=True, currency=currency
    )
    tax = read_money(h.get("taxAmount")) or f.typed(
        h, "taxAmount", row, xp, "money", req=True, currency=currency
    )
    total = read_money(h.get("totalAmount")) or f.typed(
        h, "totalAmount", row, xp, "money", req=True, currency=currency
    )
    status_raw = plain[5] or f.text(h, "approvalStatus", row, xp, req=True)
    approved_at = stamps.get(h.get("approvedAt")) or f.typed(  # type: ignore[arg-type]
        h, "approvedAt", row, xp, "timestamp", req=True
    )
    exported_at = stamps.get(h.get("exportedAt")) or f.typed(  # type: ignore[arg-type]
        h, "exportedAt", row, xp, "timestamp", req=True
    )
    written = h.get("stampliLink")
    link = (_plain_text(written) or f.text(h, "stampliLink", row, xp)) if written else None
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
    seen_numbers: dict[int, tuple[int | None, str | None]] = {}
    net_sum = Decimal(0)
    tax_sum = Decimal(0)
    sums_ok = True
    # Per line, the same cache peeks as above. A line is read from its texts by position; its
    # ``RawLine`` (a CSV reader builds it on demand) only when a full read may report.
    ints, amounts = f.cache.ints, f.cache.amounts
    line_types = f.cache.enum_table("lineType")
    raw_lines = raw.lines
    for i, (cells, lr, lx, custom, extra) in enumerate(zip(*_line_places(raw), strict=True)):
        t_number, t_type, t_gl, t_item, t_qty, t_price, t_net, t_tax, t_rate = cells[:_N_VALUES]
        number_ = ints.get(t_number) or f.typed(  # type: ignore[arg-type]
            raw_lines[i].values, "lineNumber", lr, lx, "int", req=True
        )
        ltype = line_types.get(t_type) or f.enum(  # type: ignore[arg-type]
            raw_lines[i].values, "lineType", lr, lx, _LINE_TYPES, req=True
        )
        # An empty optional cell is no value and no issue (what the full read would say).
        # ``_plain_text`` inline (one call less per cell): plain ASCII is kept trimmed.
        gl = (t_gl.strip() or None) if t_gl and t_gl.isascii() and t_gl.isprintable() else None
        if gl is None and (t_gl or ltype == "GL"):
            gl = f.text(raw_lines[i].values, "glAccount", lr, lx, req=ltype == "GL")
        item = (t_item.strip() or None) if t_item and t_item.isascii() and t_item.isprintable() else None
        if item is None and (t_item or ltype == "ITEM"):
            item = f.text(raw_lines[i].values, "itemCode", lr, lx, req=ltype == "ITEM")
        # A value read before is one dict peek; a new one goes through the reader, then the full read.
        qty = amounts.get(t_qty) or (  # type: ignore[arg-type]
            (read_amount(t_qty) or f.typed(raw_lines[i].values, "quantity", lr, lx, "amount"))
            if t_qty
            else None
        )
        price = amounts.get(t_price) or (  # type: ignore[arg-type]
            (read_amount(t_price) or f.typed(raw_lines[i].values, "unitPrice", lr, lx, "amount"))
            if t_price
            else None
        )
        net = read_money(t_net) or f.typed(
            raw_lines[i].values, "lineNetAmount", lr, lx, "money", req=True, currency=currency
        )
        ltax = read_money(t_tax) or f.typed(
            raw_lines[i].values, "lineTaxAmount", lr, lx, "money", req=True, currency=currency
        )
        rate_pct = amounts.get(t_rate) or (  # type: ignore[arg-type]
            (read_amount(t_rate) or f.typed(raw_lines[i].values, "taxRate", lr, lx, "amount"))
            if t_rate
            else None
        )
        if number_ is not None:
            if number_ in seen_numbers:
                seen_row, seen_xpath = seen_numbers[number_]
                where = f"row {seen_row}" if seen_row is not None else seen_xpath
                f.fail(
                    "duplicate_line_number",
                    f"lineNumber {number_} appears twice (also at {where})",
                    lr,
                    lx,
                    "lineNumber",
                )
            seen_numbers[number_] = (lr, lx)
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
            and qty * price != net  # equal amounts round equally (the common case, no rounding)
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
        written_texts = cells[_N_VALUES:]
        description, tax_code, department, cost_center, location, class_, project, po_line = _printable_texts(
            written_texts, _LINE_VERBATIM
        ) or f.texts(raw_lines[i].values, _LINE_TEXTS, lr, lx, written_texts)
        lines.append(
            _new_invoice_line(  # InvoiceLine, fields in declaration order
                number_,
                _LINE_TYPE[ltype],
                net,
                ltax,
                gl,
                item,
                description,
                qty,
                price,
                tax_code,
                rate_pct,
                department,
                cost_center,
                location,
                class_,
                project,
                po_line,
                custom or {},  # the raw record's own dicts: it is dropped once built
                extra or {},
                lr,
                lx,
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
    (
        original_number,
        vendor_tax_id,
        terms,
        reference,
        reference_type,
        po_number,
        invoice_text,
        image,
    ) = f.texts(h, _INVOICE_TEXTS, row, xp)
    if image is not None and (why := image_name_problem(image)) is not None:
        f.fail("invalid_value", f"documentFile {image[:80]!r} {why}", row, xp, "documentFile")
    if (issues and _has_errors(issues)) or not (
        company and doc_type and number and vendor_id and vendor_name and status
    ):
        return None, issues
    if not (isinstance(invoice_date, date) and isinstance(due_date, date) and isinstance(currency, str)):
        return None, issues
    invoice = _new_invoice(  # Invoice, fields in declaration order
        company,
        invoice_id,
        _DOC_TYPE[doc_type],
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
        _new_provenance(ctx.remote_path, ctx.sha256, raw.rows, raw.xpath, None),
        link,
        original_number,
        vendor_tax_id,
        posting_date,
        rate,
        terms,
        reference,
        reference_type,
        po_number,
        invoice_text,
        approvers,
        dict(raw.custom),
        dict(raw.extra),
        image,
    )
    return invoice, issues


def build_payment(raw: RawDocument, ctx: BuildContext) -> tuple[Payment | None, list[Issue]]:
    issues: list[Issue] = list(raw.issues)
    f = _Fields(ctx, raw, issues, set())
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
