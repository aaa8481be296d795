"""The §4.6 vendor CSV in the canonical dialect: UTF-8 (BOM only when asked), ``,``, CRLF, RFC 4180
quoting, a header row, rows sorted by ``vendorId``.

CSV injection. A cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR would be evaluated by a
spreadsheet. Such a cell is written with one leading apostrophe (``'=1+1``), which spreadsheets show
as text and never evaluate. So that every value still round-trips, a value that *already* starts
with apostrophes followed by one of those characters gets one more apostrophe. Reading back
(``restore``): a cell matching ``'+[=+\\-@\\t\\r]…`` loses exactly one leading apostrophe; every other
cell is the value itself. ``restore(neutralise(v)) == v`` for every string ``v``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence

COLUMNS: tuple[str, ...] = (
    "vendorId",
    "vendorName",
    "active",
    "legalName",
    "orgNumber",
    "vatNumber",
    "email",
    "phone",
    "addressLine1",
    "addressLine2",
    "postalCode",
    "city",
    "region",
    "countryCode",
    "currencyId",
    "terms",
    "paymentMethod",
    "iban",
    "bic",
    "bankAccountNumber",
    "bankRoutingNumber",
    "bankName",
    "vendorClass",
    "defaultGlAccount",
    "defaultTaxCode",
    "lastModified",
)

TRIGGERS = "=+-@\t\r"
_NEEDS_GUARD = re.compile(r"^'*[=+\-@\t\r]")
_GUARDED = re.compile(r"^'+[=+\-@\t\r]")
BOM = b"\xef\xbb\xbf"


def neutralise(value: str) -> str:
    """The cell for ``value``: one apostrophe in front when a spreadsheet could evaluate it."""
    return "'" + value if _NEEDS_GUARD.match(value) else value


def restore(cell: str) -> str:
    """The value of a cell written by ``neutralise`` (its exact inverse)."""
    return cell[1:] if _GUARDED.match(cell) else cell


def render(rows: Iterable[Mapping[str, str]], *, bom: bool = False) -> bytes:
    """The file's bytes: header, then the rows sorted by vendorId, each cell neutralised."""
    return render_table(COLUMNS, rows, key="vendorId", bom=bom)


def render_table(
    columns: Sequence[str], rows: Iterable[Mapping[str, str]], *, key: str, bom: bool = False
) -> bytes:
    """Any list in this dialect (the coding lists use it too): header, rows sorted by ``key``."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=",", quotechar='"', lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in sorted(rows, key=lambda r: r[key]):
        writer.writerow([neutralise(row.get(c, "") or "") for c in columns])
    data = buf.getvalue().encode("utf-8")
    return BOM + data if bom else data


def parse(data: bytes) -> list[dict[str, str]]:
    """Read a file written by ``render`` back into rows of values (BOM and guards removed)."""
    text = data.removeprefix(BOM).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True)
    header = next(reader)
    return [dict(zip(header, (restore(c) for c in cells), strict=True)) for cells in reader]
