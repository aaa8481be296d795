"""Raw records (text by canonical field name) to canonical documents, with every §4.7 check.

Both readers (CSV and XML) produce ``RawDocument``s; this module is the one place that turns text
into ``Invoice`` / ``Payment`` and decides whether a document is rejected. It never raises for bad
data: it returns the document (or None) and the issues it found, all of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import compress, repeat
from operator import mul, ne, not_
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
from ml_connector.stampli.column_reads import fill, has_none, looked_up, plain_amounts, trimmed
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


def _decimals_written(text: str) -> int:
    """Digits after the last '.' or ',' of an amount's text: at least as many decimals as it has."""
    point = max(text.rfind("."), text.rfind(","))
    return len(text) - 1 - point if point >= 0 else 0


_DOC_TYPES = frozenset(t.value for t in DocumentType)
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
    """One invoice: a batch of one."""
    return build_invoices([raw], ctx)[0]


def build_invoices(
    raws: Sequence[RawDocument], ctx: BuildContext
) -> list[tuple[Invoice | None, list[Issue]]]:
    """Each raw invoice's ``Invoice`` (None when rejected) and the issues found in it, all of them.

    The batch is read field by field: each field's cells of every document (or every line) at once,
    in the order below, which is also the order of a document's issues. A column whose cells are all
    in their common case is read in a few C calls (``column_reads``); otherwise each cell not
    vouched for takes its field's full read (``_Fields``), which reports."""
    n = len(raws)
    issues: list[list[Issue]] = [list(raw.issues) for raw in raws]
    fields: list[_Fields | None] = [None] * n
    cache = ctx.cache

    def f(i: int) -> _Fields:
        got = fields[i]
        if got is None:
            got = fields[i] = _Fields(ctx, raws[i], issues[i], set())
        return got

    heads = [raw.header for raw in raws]
    rows = [raw.first_row for raw in raws]
    xps = [raw.xpath for raw in raws]

    def column(name: str) -> list[str | None]:
        return list(map(dict.get, heads, repeat(name)))

    def text(
        name: str, *, req: bool = False, ascii_only: bool = False, skip: list[bool] | None = None
    ) -> list[str | None]:
        """``name``'s texts (documents in ``skip`` are not read in full: they are rejected already)."""
        cells = column(name)
        if skip is not None and any(skip):
            cells = [None if s else c for c, s in zip(cells, skip, strict=True)]
        values = trimmed(cells, ascii_only=ascii_only, verbatim=name in _VERBATIM)
        if values is None:  # each cell: its own common case, else the full read
            values = [
                (t.strip() or None)
                if t and t.isascii() and t.isprintable() and name not in _VERBATIM
                else None
                for t in cells
            ]
            return fill(values, cells, req, lambda i: f(i).text(heads[i], name, rows[i], xps[i], req=req))
        if req and None in values:
            return fill(values, cells, req, lambda i: f(i).text(heads[i], name, rows[i], xps[i], req=True))
        return values

    def typed(name: str, kind: str, table: dict[str, Any], *, req: bool = False) -> list[Any]:
        cells = column(name)
        return fill(
            looked_up(table, cells),
            cells,
            req,
            lambda i: f(i).typed(heads[i], name, rows[i], xps[i], kind, req=req),
        )

    def amounts(name: str, currencies: list[str | None] | None, *, req: bool) -> list[Any]:
        """``name``'s amounts (money in each document's currency when ``currencies``)."""
        cells = column(name)
        return _amount_column(
            cells,
            currencies,
            ctx,
            req,
            lambda i: f(i).typed(
                heads[i],
                name,
                rows[i],
                xps[i],
                "money" if currencies is not None else "amount",
                req=req,
                currency=currencies[i] if currencies is not None else None,
            ),
        )

    # Plain ASCII texts are kept trimmed (``text``'s common case, ids included).
    company = text("stampliCompanyId", req=True, ascii_only=True)
    invoice_id = text("stampliInvoiceId", ascii_only=True)
    doc_type_cells = column("documentType")
    doc_type = fill(
        looked_up(cache.enum_table("documentType"), doc_type_cells),
        doc_type_cells,
        True,
        lambda i: f(i).enum(heads[i], "documentType", rows[i], xps[i], _DOC_TYPES, req=True),
    )
    number = text("invoiceNumber", req=True, ascii_only=True)
    vendor_id = text("vendorId", req=True, ascii_only=True)
    vendor_name = text("vendorName", req=True, ascii_only=True)
    invoice_date = typed("invoiceDate", "date", cache.dates, req=True)
    due_date = typed("dueDate", "date", cache.dates, req=True)
    posting_date = typed("postingDate", "date", cache.dates)
    currency: list[str | None] = typed("currency", "currency", cache.currencies, req=True)
    rate = amounts("exchangeRate", None, req=False)
    for i, r in enumerate(rate):
        if r is not None and r <= 0:
            _check_rate(f(i), r, rows[i], xps[i])
    subtotal = amounts("subtotalAmount", currency, req=True)
    tax = amounts("taxAmount", currency, req=True)
    total = amounts("totalAmount", currency, req=True)
    status_raw = text("approvalStatus", req=True, ascii_only=True)
    approved_at = typed("approvedAt", "timestamp", cache.stamps, req=True)
    exported_at = typed("exportedAt", "timestamp", cache.stamps, req=True)
    link = text("stampliLink", ascii_only=True)
    status: list[str | None] = [s.upper() if s else None for s in status_raw]
    approved_list = ", ".join(sorted(ctx.approved_statuses))
    for i in range(n):
        if link[i] is not None and not link[i].startswith(("https://", "http://")):  # type: ignore[union-attr]
            f(i).fail(
                "invalid_value",
                f"stampliLink {link[i]!r} is not an http(s) URL",
                rows[i],
                xps[i],
                "stampliLink",
            )
        if status[i] is not None and status[i] not in ctx.approved_statuses:
            f(i).fail(
                "not_approved",
                f"approvalStatus {status_raw[i]!r} is not approved ({approved_list})",
                rows[i],
                xps[i],
                "approvalStatus",
            )
    approvers_text = text("approvers") if any(raw.approvers is None for raw in raws) else [None] * n
    approvers = [
        raw.approvers
        if raw.approvers is not None
        else (tuple(filter(None, map(str.strip, t.split("|")))) if (t := approvers_text[i]) else ())
        for i, raw in enumerate(raws)
    ]

    # Lines: every line of the batch's documents, one column per field.
    too_many = [len(raw.lines) > ctx.max_lines for raw in raws]
    places = _LinePlaces()
    for i, raw in enumerate(raws):
        if too_many[i]:
            f(i).fail(
                "too_many_lines",
                f"{len(raw.lines)} lines; the limit is {ctx.max_lines}",
                rows[i],
                xps[i],
                "lineNumber",
            )
            places.add(i, None)
            continue
        if not raw.lines:
            f(i).fail("missing_value", "the invoice has no lines", rows[i], xps[i], "lines")
        places.add(i, raw)
    lines_by_doc = _build_lines(raws, ctx, f, issues, currency, places)

    # The invoice's amounts against its lines', and its signs.
    tolerance = ctx.tolerance
    for i in range(n):
        if too_many[i]:
            continue
        cur, sub, tx, tot = currency[i], subtotal[i], tax[i], total[i]
        sums = lines_by_doc[i][1]
        row, xp = rows[i], xps[i]
        if cur is not None and sums is not None and raws[i].lines:
            net_sum, tax_sum = sums
            if sub is not None and not _close(net_sum, sub, cur, tolerance):
                f(i).fail(
                    "subtotal_mismatch",
                    f"lines sum to {net_sum} but subtotalAmount is {sub}",
                    row,
                    xp,
                    "subtotalAmount",
                )
            if tx is not None and not _close(tax_sum, tx, cur, tolerance):
                f(i).fail(
                    "tax_mismatch", f"line taxes sum to {tax_sum} but taxAmount is {tx}", row, xp, "taxAmount"
                )
        if (
            cur is not None
            and sub is not None
            and tx is not None
            and tot is not None
            and not _close(sub + tx, tot, cur, tolerance)
        ):
            f(i).fail(
                "total_mismatch",
                f"subtotalAmount {sub} + taxAmount {tx} = {sub + tx}, totalAmount is {tot}",
                row,
                xp,
                "totalAmount",
            )
        kind = doc_type[i]
        if kind is not None:
            for name, amount in (("totalAmount", tot), ("subtotalAmount", sub)):
                if amount is None:
                    continue
                if kind == "INVOICE" and amount < 0:
                    f(i).fail("sign_mismatch", f"an INVOICE has negative {name} {amount}", row, xp, name)
                elif kind == "CREDIT_NOTE" and amount > 0:
                    f(i).fail("sign_mismatch", f"a CREDIT_NOTE has positive {name} {amount}", row, xp, name)

    # Optional texts are read (and checked) before deciding: a control character rejects too.
    optional = list(zip(*[text(name, skip=too_many) for name in _INVOICE_TEXTS], strict=True))  # by document
    out: list[tuple[Invoice | None, list[Issue]]] = []
    for i, raw in enumerate(raws):
        found = issues[i]
        if too_many[i]:
            out.append((None, found))
            continue
        original_number, vendor_tax_id, terms, reference, reference_type, po_number, invoice_text, image = (
            optional[i]
        )
        if image is not None and (why := image_name_problem(image)) is not None:
            f(i).fail("invalid_value", f"documentFile {image[:80]!r} {why}", rows[i], xps[i], "documentFile")
        if (found and _has_errors(found)) or not (
            company[i] and doc_type[i] and number[i] and vendor_id[i] and vendor_name[i] and status[i]
        ):
            out.append((None, found))
            continue
        if not (
            isinstance(invoice_date[i], date)
            and isinstance(due_date[i], date)
            and isinstance(currency[i], str)
        ):
            out.append((None, found))
            continue
        invoice = _new_invoice(  # Invoice, fields in declaration order
            company[i],
            invoice_id[i],
            _DOC_TYPE[doc_type[i]],  # type: ignore[index]
            number[i],
            vendor_id[i],
            vendor_name[i],
            invoice_date[i],
            due_date[i],
            currency[i],
            subtotal[i],
            tax[i],
            total[i],
            status[i],
            approved_at[i],
            exported_at[i],
            lines_by_doc[i][0],
            _new_provenance(ctx.remote_path, ctx.sha256, raw.rows, raw.xpath, None),
            link[i],
            original_number,
            vendor_tax_id,
            posting_date[i],
            rate[i],
            terms,
            reference,
            reference_type,
            po_number,
            invoice_text,
            approvers[i],
            dict(raw.custom),
            dict(raw.extra),
            image,
        )
        out.append((invoice, found))
    return out


def _amount_column(
    cells: Sequence[str | None],
    currencies: Sequence[str | None] | None,
    ctx: BuildContext,
    req: bool,
    full: Callable[[int], Any],
) -> list[Any]:
    """Amounts of a column (money in each cell's currency when ``currencies``): the column read at
    once when every cell is plain, else each cell by ``ValueCache.amount_reader``, else in full."""
    rules, cache = ctx.rules, ctx.cache
    if currencies is None:  # quantities, prices, rates: many repeat (ValueCache.amounts)
        found: list[Any] = looked_up(cache.amounts, cells)
        if all(found):
            return found
        misses = list(compress(range(len(found)), map(not_, found)))
        values = plain_amounts(list(map(cells.__getitem__, misses)), rules, None)
        if values is not None:
            table, room = cache.amounts, cache.limit - len(cache.amounts)
            for i, value in zip(misses, values, strict=True):
                found[i] = value
                if room > 0:  # as the reader: once full, the table keeps what it has
                    table[cells[i]] = value  # type: ignore[index]  # plain_amounts: no None
                    room -= 1
            return found
        read = cache.amount_reader(rules, None)
        return fill(list(map(read, cells)), cells, req, full)
    places = {minor_units(c) if c is not None else -1 for c in set(currencies)}
    if len(places) == 1 and -1 not in places:  # money is nearly all distinct: read, not looked up
        values = plain_amounts(cells, rules, places.pop())
        if values is not None:
            return values
    found = [cache.amount_reader(rules, c)(t) for t, c in zip(cells, currencies, strict=True)]
    return fill(found, cells, req, full)


def _build_lines(
    raws: Sequence[RawDocument],
    ctx: BuildContext,
    f: Callable[[int], _Fields],
    issues: list[list[Issue]],
    currency: list[str | None],
    places: _LinePlaces,
) -> list[tuple[tuple[InvoiceLine, ...], tuple[Decimal, Decimal] | None]]:
    """Each document's lines and the sums of their net and tax amounts (None: an amount is
    missing), every line of the batch read field by field. A line's issues come in its fields'
    order, lines in their order, as if each line were read alone."""
    cache = ctx.cache
    line_doc, line_pos, texts, lrows, lxps = places.doc, places.pos, places.texts, places.rows, places.xpaths
    n_lines = len(texts)
    buckets: dict[int, list[Issue]] = {}

    def lf(k: int) -> _Fields:  # the line's document's reader, its issues kept by line
        fd = f(line_doc[k])
        fd.issues = buckets.setdefault(k, [])
        return fd

    def values(k: int) -> Mapping[str, str | None]:
        return raws[line_doc[k]].lines[line_pos[k]].values

    cols: list[tuple[str | None, ...]] = list(zip(*texts, strict=True)) if texts else [()] * len(LINE_CELLS)
    t_number, t_type, t_gl, t_item, t_qty, t_price, t_net, t_tax, t_rate = cols[:_N_VALUES]
    numbers = fill(
        looked_up(cache.ints, t_number),
        t_number,
        True,
        lambda k: lf(k).typed(values(k), "lineNumber", lrows[k], lxps[k], "int", req=True),
    )
    types = fill(
        looked_up(cache.enum_table("lineType"), t_type),
        t_type,
        True,
        lambda k: lf(k).enum(values(k), "lineType", lrows[k], lxps[k], _LINE_TYPES, req=True),
    )

    def code(cells: Sequence[str | None], name: str, kind: str) -> list[str | None]:
        """A code (GL account, item): plain ASCII kept trimmed; required on a line of ``kind``."""
        vals = trimmed(cells, ascii_only=True)
        if vals is None:
            vals = [(t.strip() or None) if t and t.isascii() and t.isprintable() else None for t in cells]
        if None in vals:
            for k, v in enumerate(vals):
                if v is None and (cells[k] or types[k] == kind):
                    vals[k] = lf(k).text(values(k), name, lrows[k], lxps[k], req=types[k] == kind)
        return vals

    gl = code(t_gl, "glAccount", "GL")
    item = code(t_item, "itemCode", "ITEM")

    currencies = list(map(currency.__getitem__, line_doc))

    def amount(cells: Sequence[str | None], name: str, money: bool) -> list[Any]:
        line_currency = currencies if money else None
        return _amount_column(
            cells,
            line_currency,
            ctx,
            money,
            lambda k: lf(k).typed(
                values(k),
                name,
                lrows[k],
                lxps[k],
                "money" if money else "amount",
                req=money,
                currency=line_currency[k] if line_currency is not None else None,
            ),
        )

    qty = amount(t_qty, "quantity", False)
    price = amount(t_price, "unitPrice", False)
    net = amount(t_net, "lineNetAmount", True)
    ltax = amount(t_tax, "lineTaxAmount", True)
    rate = amount(t_rate, "taxRate", False)

    out: list[tuple[tuple[InvoiceLine, ...], tuple[Decimal, Decimal] | None]] = []
    for a, b in places.bounds:
        nums = numbers[a:b]
        if None in nums or len(set(nums)) != b - a:
            seen: dict[int, tuple[int | None, str | None]] = {}
            for k in range(a, b):
                num = numbers[k]
                if num is None:
                    continue
                if num in seen:
                    seen_row, seen_xpath = seen[num]
                    where = f"row {seen_row}" if seen_row is not None else seen_xpath
                    lf(k).fail(
                        "duplicate_line_number",
                        f"lineNumber {num} appears twice (also at {where})",
                        lrows[k],
                        lxps[k],
                        "lineNumber",
                    )
                seen[num] = (lrows[k], lxps[k])
    # quantity x unitPrice against the net amount: equal amounts round equally (the common case)
    if not has_none(qty) and not has_none(price):
        suspects: Iterable[int] = compress(range(n_lines), map(ne, map(mul, qty, price), net))
    else:
        suspects = [k for k in range(n_lines) if qty[k] is not None and price[k] is not None]
    for k in suspects:
        q, p, amount_, cur = qty[k], price[k], net[k], currency[line_doc[k]]
        if amount_ is None or cur is None or q * p == amount_:
            continue
        if round_money(q * p, cur) != round_money(amount_, cur):
            lf(k).warn(
                "line_net_mismatch",
                f"quantity {q} x unitPrice {p} = {q * p}, lineNetAmount is {amount_}",
                lrows[k],
                lxps[k],
                "lineNetAmount",
            )
    # A line without its number, type or amounts is not kept (its issues say why).
    all_kept = None not in numbers and None not in types and not has_none(net) and not has_none(ltax)
    keep = (
        None
        if all_kept
        else [
            numbers[k] is not None and types[k] is not None and net[k] is not None and ltax[k] is not None
            for k in range(n_lines)
        ]
    )
    line_texts: list[list[str | None]] = []
    for j, name in enumerate(_LINE_TEXTS):
        cells = cols[_N_VALUES + j]
        verbatim = name in _VERBATIM
        vals = trimmed(cells, ascii_only=False, verbatim=verbatim)
        if vals is None:
            vals = [None] * n_lines
            for k, t in enumerate(cells):
                if not t or (keep is not None and not keep[k]):
                    continue
                if t.isprintable():
                    vals[k] = (t or None) if verbatim else (t.strip() or None)
                else:
                    vals[k] = lf(k).text(values(k), name, lrows[k], lxps[k])
        line_texts.append(vals)
    description, tax_code, department, cost_center, location, class_, project, po_line = line_texts
    columns: list[Iterable[Any]] = [
        numbers,
        list(map(_LINE_TYPE.get, types)),  # type: ignore[arg-type]  # None: a line not kept
        net,
        ltax,
        gl,
        item,
        description,
        qty,
        price,
        tax_code,
        rate,
        department,
        cost_center,
        location,
        class_,
        project,
        po_line,
        [c or {} for c in places.custom],  # the raw record's own dicts: it is dropped once built
        [e or {} for e in places.extra],
        lrows,
        lxps,
    ]
    if keep is not None:
        columns = [compress(col, keep) for col in columns]
    built = list(map(_new_invoice_line, *columns))  # InvoiceLine, fields in declaration order
    objs: list[InvoiceLine | None]
    if keep is None:
        objs = built  # type: ignore[assignment]
    else:
        objs = [None] * n_lines
        for k, obj in zip(compress(range(n_lines), keep), built, strict=True):
            objs[k] = obj
    touched = {line_doc[k] for k in buckets}
    for i in touched:
        f(i).issues = issues[i]
    for (a, b), i in zip(places.bounds, range(len(raws)), strict=True):
        if i in touched:
            for k in range(a, b):
                issues[i].extend(buckets.get(k, ()))
        nets, taxes = net[a:b], ltax[a:b]
        sums = None if has_none(nets) or has_none(taxes) else (sum(nets, Decimal(0)), sum(taxes, Decimal(0)))
        mine = objs[a:b]
        out.append((tuple(mine) if keep is None else tuple(filter(None, mine)), sums))  # type: ignore[arg-type]
    return out


@dataclass
class _LinePlaces:
    """Every line of a batch: its document, its place there, its texts, row, xpath, custom, extra;
    ``bounds``: each document's lines as a slice."""

    doc: list[int] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    texts: list[tuple[str | None, ...]] = field(default_factory=list)
    rows: list[int | None] = field(default_factory=list)
    xpaths: list[str | None] = field(default_factory=list)
    custom: list[dict[str, str] | None] = field(default_factory=list)
    extra: list[dict[str, str] | None] = field(default_factory=list)
    bounds: list[tuple[int, int]] = field(default_factory=list)

    def add(self, i: int, raw: RawDocument | None) -> None:
        start = len(self.texts)
        if raw is not None:
            cells, rows, xpaths, custom, extra = _line_places(raw)
            self.texts.extend(cells)
            self.rows.extend(rows)
            self.xpaths.extend(xpaths)
            self.custom.extend(custom)
            self.extra.extend(extra)
            count = len(self.texts) - start
            self.doc.extend(repeat(i, count))
            self.pos.extend(range(count))
        self.bounds.append((start, len(self.texts)))


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
