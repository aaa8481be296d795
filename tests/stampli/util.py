"""Helpers for the reader tests: load the samples as rows, change cells, write variants."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ml_connector.domain.documents import Invoice, Payment, invoice_json, payment_json
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile
from ml_connector.stampli.read import ReadResult, read_export
from tests.stampli.fixture_data import INVOICES_CSV, INVOICES_XML, PAYMENTS_CSV, PAYMENTS_XML

CANONICAL = BUILTIN_PROFILES["canonical"]
NORDIC = BUILTIN_PROFILES["nordic"]

__all__ = ["INVOICES_CSV", "INVOICES_XML", "PAYMENTS_CSV", "PAYMENTS_XML"]

# Fields that say where or how a document was delivered, not what it says.
_LOCATION = {"provenance", "row", "xpath"}


def rows_of(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh) if row]


def invoice_rows() -> list[list[str]]:
    return rows_of(INVOICES_CSV)


def payment_rows() -> list[list[str]]:
    return rows_of(PAYMENTS_CSV)


def set_cell(rows: list[list[str]], record: int, column: str, value: str) -> list[list[str]]:
    """record is the 1-based physical record number (header = 1)."""
    rows[record - 1][rows[0].index(column)] = value
    return rows


def csv_text(rows: Iterable[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return out.getvalue()


def write_rows(
    path: Path,
    rows: Iterable[list[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\r\n",
) -> Path:
    path.write_bytes(csv_text(rows, delimiter, newline).encode(encoding))
    return path


def read(path: Path, profile: ReaderProfile = CANONICAL, **kw: Any) -> ReadResult:
    return read_export(path, profile=profile, **kw)


def content(docs: Iterable[Invoice | Payment]) -> list[dict[str, Any]]:
    """JSON of documents without their location (provenance, row, xpath)."""

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in _LOCATION}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return [strip(invoice_json(d) if isinstance(d, Invoice) else payment_json(d)) for d in docs]


def codes(result: ReadResult) -> set[str]:
    return {i.code for i in result.issues}
