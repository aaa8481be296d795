"""The §4.6 vendor CSV in the canonical dialect: UTF-8 (BOM only when asked), ``,``, CRLF, RFC 4180
quoting, a header row, rows sorted by ``vendorId``.

CSV injection: every cell goes through ``ml_connector.csv_cells.neutralise`` (read back with ``restore``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

# Re-exported: the vendor list's readers and tests name them here.
from ml_connector.csv_cells import TRIGGERS as TRIGGERS
from ml_connector.csv_cells import neutralise as neutralise
from ml_connector.csv_cells import restore as restore

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

BOM = b"\xef\xbb\xbf"


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
