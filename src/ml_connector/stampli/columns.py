"""Canonical column names (stampli-format.md §4.3 and §4.5) and header resolution.

Header matching ignores case, whitespace, ``_`` and ``-`` after the profile's alias map. A header
cell called ``custom_<name>`` becomes a custom field ``<name>``; any other unknown cell is kept
as an *extra* column, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal["invoices", "payments"]

INVOICE_HEADER_COLUMNS: Final = (
    "stampliCompanyId",
    "stampliInvoiceId",
    "stampliLink",
    "documentType",
    "invoiceNumber",
    "originalInvoiceNumber",
    "vendorId",
    "vendorName",
    "vendorTaxId",
    "invoiceDate",
    "dueDate",
    "postingDate",
    "currency",
    "exchangeRate",
    "subtotalAmount",
    "taxAmount",
    "totalAmount",
    "paymentTerms",
    "paymentReference",
    "poNumber",
    "description",
    "approvalStatus",
    "approvedAt",
    "approvers",
    "exportedAt",
)
INVOICE_LINE_COLUMNS: Final = (
    "lineNumber",
    "lineType",
    "glAccount",
    "itemCode",
    "lineDescription",
    "quantity",
    "unitPrice",
    "lineNetAmount",
    "taxCode",
    "taxRate",
    "lineTaxAmount",
    "department",
    "costCenter",
    "location",
    "class",
    "project",
    "poLineNumber",
)
# Not in the §4.3 table; accepted when present: paymentReferenceType so a CSV can carry what XML
# says in @type, documentFile the invoice image's file name in images/ (domain/images.py).
INVOICE_EXTENSION_COLUMNS: Final = ("paymentReferenceType", "documentFile")
INVOICE_COLUMNS: Final = INVOICE_HEADER_COLUMNS + INVOICE_LINE_COLUMNS
INVOICE_REQUIRED: Final = frozenset(
    {
        "stampliCompanyId",
        "documentType",
        "invoiceNumber",
        "vendorId",
        "vendorName",
        "invoiceDate",
        "dueDate",
        "currency",
        "subtotalAmount",
        "taxAmount",
        "totalAmount",
        "approvalStatus",
        "approvedAt",
        "exportedAt",
        "lineNumber",
        "lineType",
        "lineNetAmount",
        "lineTaxAmount",
    }
)

PAYMENT_HEADER_COLUMNS: Final = (
    "stampliCompanyId",
    "stampliPaymentId",
    "paymentNumber",
    "paymentDate",
    "paymentMethod",
    "paymentStatus",
    "paymentSource",
    "checkNumber",
    "bankAccount",
    "paymentCurrency",
    "paymentAmount",
    "exchangeRate",
    "vendorId",
    "vendorName",
)
PAYMENT_APPLICATION_COLUMNS: Final = (
    "stampliInvoiceId",
    "invoiceNumber",
    "documentType",
    "invoiceCurrency",
    "appliedAmount",
    "discountAmount",
)
PAYMENT_TRAILER_COLUMNS: Final = ("remittanceReference", "voidedAt", "voidReason", "exportedAt")
PAYMENT_COLUMNS: Final = PAYMENT_HEADER_COLUMNS + PAYMENT_APPLICATION_COLUMNS + PAYMENT_TRAILER_COLUMNS
PAYMENT_LEVEL: Final = frozenset(PAYMENT_HEADER_COLUMNS + PAYMENT_TRAILER_COLUMNS)
PAYMENT_REQUIRED: Final = frozenset(
    {
        "stampliCompanyId",
        "stampliPaymentId",
        "paymentDate",
        "paymentMethod",
        "paymentStatus",
        "paymentCurrency",
        "paymentAmount",
        "vendorId",
        "stampliInvoiceId",
        "invoiceNumber",
        "documentType",
        "invoiceCurrency",
        "appliedAmount",
        "exportedAt",
    }
)

KNOWN_COLUMNS: Final = frozenset(INVOICE_COLUMNS + INVOICE_EXTENSION_COLUMNS + PAYMENT_COLUMNS)
_CUSTOM = re.compile(r"^\s*custom[_\s-]?(?P<name>\S.*?)\s*$", re.IGNORECASE)


def normalize_header(name: str) -> str:
    """Case-, whitespace-, ``_``- and ``-``-insensitive form of a header cell."""
    return re.sub(r"[\s_\-]+", "", name).lower()


_BY_NORMAL: Final = {normalize_header(c): c for c in KNOWN_COLUMNS}


def columns_for(kind: Kind) -> tuple[str, ...]:
    return INVOICE_COLUMNS + INVOICE_EXTENSION_COLUMNS if kind == "invoices" else PAYMENT_COLUMNS


def required_for(kind: Kind) -> frozenset[str]:
    return INVOICE_REQUIRED if kind == "invoices" else PAYMENT_REQUIRED


def canonical_name(cell: str, aliases: Mapping[str, str]) -> str | None:
    """The canonical column a header cell names, or None when it is unknown."""
    norm = normalize_header(cell)
    target = aliases.get(norm)
    if target is not None:
        return target
    return _BY_NORMAL.get(norm)


@dataclass(frozen=True)
class HeaderMap:
    """Where each canonical column sits in the CSV header."""

    cells: tuple[str, ...]
    index: Mapping[str, int]  # canonical column -> position
    custom: Mapping[str, int]  # custom field name -> position
    extra: Mapping[str, int]  # unknown header text -> position
    duplicates: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    other_kind_hits: int = 0
    known_hits: int = field(default=0)


def resolve_header(cells: Sequence[str], kind: Kind, aliases: Mapping[str, str]) -> HeaderMap:
    wanted = set(columns_for(kind))
    index: dict[str, int] = {}
    custom: dict[str, int] = {}
    extra: dict[str, int] = {}
    duplicates: list[str] = []
    other = 0
    for pos, cell in enumerate(cells):
        name = canonical_name(cell, aliases)
        if name is not None and name in wanted:
            if name in index:
                duplicates.append(name)
            else:
                index[name] = pos
            continue
        if name is not None:
            other += 1
        m = _CUSTOM.match(cell)
        if name is None and m is not None and kind == "invoices":
            custom.setdefault(m.group("name"), pos)
            continue
        extra.setdefault(cell.strip() or f"column{pos + 1}", pos)
    missing = tuple(c for c in columns_for(kind) if c in required_for(kind) and c not in index)
    return HeaderMap(
        cells=tuple(cells),
        index=index,
        custom=custom,
        extra=extra,
        duplicates=tuple(duplicates),
        missing=missing,
        other_kind_hits=other,
        known_hits=len(index),
    )


def known_count(cells: Sequence[str], aliases: Mapping[str, str]) -> int:
    """How many cells name a known column (of any kind); used for delimiter detection."""
    return sum(1 for c in cells if canonical_name(c, aliases) is not None)


def detect_kind_from_header(cells: Sequence[str], aliases: Mapping[str, str]) -> Kind | None:
    names = {canonical_name(c, aliases) for c in cells}
    if "stampliPaymentId" in names or "appliedAmount" in names:
        return "payments"
    if "lineNumber" in names or "lineNetAmount" in names or "subtotalAmount" in names:
        return "invoices"
    return None
