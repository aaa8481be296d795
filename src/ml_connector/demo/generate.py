"""Realistic Stampli exports for the demo and the tests, in the canonical CSV dialect (§4.3, §4.5).

Deterministic for a given seed. Amounts are built from integer øre, so every total is exact.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import httpx2

from ml_connector.stampli import columns

INVOICE_COLUMNS = list(columns.INVOICE_COLUMNS)  # the canonical §4.3 layout, in order
IMAGE_COLUMN = "documentFile"  # our extension: the invoice image's file name in images/
PAYMENT_COLUMNS = list(columns.PAYMENT_COLUMNS)  # the canonical §4.5 layout, in order

COMPANY = "C100234"
# (vendor id, name, tax id, currency, exchange rate, domestic)
VENDORS = [
    ("10023", "Nordlys Kontorrekvisita AS", "NO987654321MVA", "NOK", "1.0000", True),
    ("10057", "Bjørnstad Transport AS", "NO912345678MVA", "NOK", "1.0000", True),
    ("20011", "Åkesson & Söner AB", "SE556677889901", "SEK", "1.0612", False),
    ("20034", "Kärkkäinen Ohjelmistot Oy", "FI12345678", "EUR", "11.7150", False),
]
# (GL account, description, tax code, tax rate %)
LINES_DOMESTIC = [
    ("6800", "Kopipapir A4 80 g, 500 ark", "1", 25),
    ("5990", "Kaffe og te til kantina", "11", 15),
    ("6540", "Kontorstol «Ergo Pro», sort", "1", 25),
    ("6100", "Frakt Oslo–Trondheim, paller", "1", 25),
    ("6300", "Leie lager, Tiller", "1", 25),
]
LINES_FOREIGN = [
    ("6790", "Konsulenttjenester, integrasjon", "86", 0),
    ("6420", "Programvarelisens, årlig", "86", 0),
]
DEPARTMENTS = ["100", "200", "300"]
MISSING_DEPARTMENT = "450"  # not in the demo Visma company until the demo creates it
BANK_ACCOUNTS = {"NOK": "DNB-1503.12.34567", "SEK": "SEB-5000.00.58398", "EUR": "DNB-EUR-1503.99.12345"}


def create_missing_cost_center(api_url: str) -> None:
    """What a Visma administrator does halfway through the demo: create the missing cost center
    (through the simulator's control API), so that the parked invoices replay by themselves."""
    with httpx2.Client(base_url=api_url, timeout=10) as http:
        http.post(
            "/_sim/segment-values",
            json={
                "segmentId": 1,
                "valueId": MISSING_DEPARTMENT.rjust(4, "0"),
                "description": "Prosjektkontor",
            },
        ).raise_for_status()


def _money(ore: int) -> str:
    return str((Decimal(ore) / 100).quantize(Decimal("0.01")))


@dataclass(frozen=True)
class GeneratedInvoice:
    invoice_id: str
    number: str
    vendor_id: str
    vendor_name: str
    currency: str
    total_ore: int
    document_type: str
    missing_cost_center: bool
    invoice_date: date


@dataclass(frozen=True)
class Export:
    invoices_csv: list[tuple[str, str]]  # (file name, text)
    payments_csv: list[tuple[str, str]]
    voids_csv: list[tuple[str, str]]  # written after the first cycle
    invoices: list[GeneratedInvoice]
    payments: int
    missing_cost_center: int
    # (file name, bytes) for the images/ folder beside the invoice exports (generate(images=True))
    images: list[tuple[str, bytes]] = field(default_factory=list)


def _rows_text(columns: list[str], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def invoice_image(invoice_id: str, number: str) -> bytes:
    """A small stand-in for the scanned invoice: a PDF header, the invoice's identity and a few bytes
    no text encoding survives unchanged (an upload that re-encodes them shows in the hash)."""
    body = f"%PDF-1.4\n% Stampli invoice {invoice_id} ({number})\n".encode()
    return body + bytes(range(256)) + b"\n%%EOF\n"


def image_name(i: int, invoice_id: str, number: str) -> tuple[str, str]:
    """(the file name, the documentFile cell): every 10th invoice names its file in documentFile,
    the others follow the ``<stampliInvoiceId>.pdf`` convention (empty cell)."""
    return (f"{number} scan.pdf", f"{number} scan.pdf") if i % 10 == 9 else (f"{invoice_id}.pdf", "")


def generate(
    n_invoices: int = 200,
    *,
    seed: int = 2025,
    missing: int = 5,
    per_file: int = 100,
    images: bool = False,
    part_paid: bool = False,
) -> Export:
    """``images``: each invoice also gets its image (``Export.images``) and the files a
    ``documentFile`` column (off by default: the layout then stays exactly §4.3). ``part_paid``: the
    second paid invoice is paid in part (two fifths), so its rest stays open (the demo shows it)."""
    rng = random.Random(seed)
    image_files: list[tuple[str, bytes]] = []
    invoice_columns = [*INVOICE_COLUMNS, IMAGE_COLUMN] if images else INVOICE_COLUMNS
    invoices: list[GeneratedInvoice] = []
    files: list[tuple[str, str]] = []
    rows: list[dict[str, str]] = []
    missing_at = set(rng.sample(range(n_invoices), min(missing, n_invoices)))
    base_day = date(2025, 3, 3)
    for i in range(n_invoices):
        vid, vname, taxid, cur, rate, domestic = VENDORS[i % len(VENDORS)]
        credit = i % 17 == 16
        sign = -1 if credit else 1
        inv_id = str(42000000 + i)
        number = f"{'KN' if credit else 'F'}-2025-{1000 + i}"
        day = base_day + timedelta(days=i % 25)
        catalog = LINES_DOMESTIC if domestic else LINES_FOREIGN
        lines = []
        for ln in range(1, rng.randint(1, 3) + 1):
            gl, text, code, pct = catalog[rng.randrange(len(catalog))]
            qty = rng.randint(1, 20)
            unit = rng.randint(50, 2500) * 100  # whole units, in øre
            net = sign * qty * unit
            tax = sign * (qty * unit * pct // 100)
            dept = MISSING_DEPARTMENT if (i in missing_at and ln == 1) else rng.choice(DEPARTMENTS)
            lines.append((ln, gl, text, sign * qty, unit, net, code, pct, tax, dept))
        sub = sum(x[5] for x in lines)
        tax_total = sum(x[8] for x in lines)
        total = sub + tax_total
        invoices.append(
            GeneratedInvoice(
                inv_id,
                number,
                vid,
                vname,
                cur,
                total,
                "CREDIT_NOTE" if credit else "INVOICE",
                i in missing_at,
                day,
            )
        )
        extension: dict[str, str] = {}
        if images:
            file_name, cell = image_name(i, inv_id, number)
            image_files.append((file_name, invoice_image(inv_id, number)))
            extension[IMAGE_COLUMN] = cell
        for ln, gl, text, qty, unit, net, code, pct, tax, dept in lines:
            rows.append(
                extension
                | {
                    "stampliCompanyId": COMPANY,
                    "stampliInvoiceId": inv_id,
                    "stampliLink": f"https://app.stampli.com/link/{inv_id}",
                    "documentType": "CREDIT_NOTE" if credit else "INVOICE",
                    "invoiceNumber": number,
                    "originalInvoiceNumber": "",
                    "vendorId": vid,
                    "vendorName": vname,
                    "vendorTaxId": taxid,
                    "invoiceDate": day.isoformat(),
                    "dueDate": (day + timedelta(days=30)).isoformat(),
                    "postingDate": day.isoformat(),
                    "currency": cur,
                    "exchangeRate": rate,
                    "subtotalAmount": _money(sub),
                    "taxAmount": _money(tax_total),
                    "totalAmount": _money(total),
                    "paymentTerms": "30 dager netto",
                    "paymentReference": "",
                    "poNumber": "",
                    "description": f"{vname}: {'kreditnota' if credit else 'faktura'} {number}",
                    "approvalStatus": "APPROVED",
                    "approvedAt": f"{day.isoformat()}T14:00:00+01:00",
                    "approvers": "siri.haugen@fjordvarme.no",
                    "exportedAt": "2025-03-31T07:15:00Z",
                    "lineNumber": str(ln),
                    "lineType": "GL",
                    "glAccount": gl,
                    "itemCode": "",
                    "lineDescription": text,
                    "quantity": str(qty),
                    "unitPrice": _money(unit),
                    "lineNetAmount": _money(net),
                    "taxCode": code,
                    "taxRate": f"{pct}.00",
                    "lineTaxAmount": _money(tax),
                    "department": dept,
                    "costCenter": "",
                    "location": "OSL",
                    "class": "",
                    "project": "",
                    "poLineNumber": "",
                }
            )
        if (i + 1) % per_file == 0 or i == n_invoices - 1:
            seq = len(files) + 1
            files.append(
                (
                    f"stampli_invoices_{COMPANY}_20250331T071500Z_{seq:04d}.csv",
                    _rows_text(invoice_columns, rows),
                )
            )
            rows = []
    payable = [inv for inv in invoices if inv.document_type == "INVOICE"]
    paid = payable[: max(1, len(payable) * 2 // 5)]
    pay_rows: list[dict[str, str]] = []
    void_rows: list[dict[str, str]] = []
    for k, inv in enumerate(paid):
        pid = str(90300000 + k)
        amount = _money(inv.total_ore * 2 // 5 if part_paid and k == 1 else inv.total_ore)
        row = {
            "stampliCompanyId": COMPANY,
            "stampliPaymentId": pid,
            "paymentNumber": f"PMT-2025-{k:06d}",
            "paymentDate": "2025-03-28",
            "paymentMethod": "BANK_TRANSFER",
            "paymentStatus": "PAID",
            "paymentSource": "STAMPLI_DIRECT_PAY",
            "checkNumber": "",
            "bankAccount": BANK_ACCOUNTS[inv.currency],
            "paymentCurrency": inv.currency,
            "paymentAmount": amount,
            "exchangeRate": "",
            "vendorId": inv.vendor_id,
            "vendorName": inv.vendor_name,
            "stampliInvoiceId": inv.invoice_id,
            "invoiceNumber": inv.number,
            "documentType": "INVOICE",
            "invoiceCurrency": inv.currency,
            "appliedAmount": amount,
            "discountAmount": "0.00",
            "remittanceReference": "",
            "voidedAt": "",
            "voidReason": "",
            "exportedAt": "2025-03-31T07:30:00Z",
        }
        pay_rows.append(row)
        if k == 0:
            void_rows.append(
                {
                    **row,
                    "paymentStatus": "VOIDED",
                    "voidedAt": "2025-03-31T09:12:40+02:00",
                    "voidReason": "Feil mottakerkonto",
                    "exportedAt": "2025-04-01T05:30:00Z",
                }
            )
    payments_csv = [
        (f"stampli_payments_{COMPANY}_20250331T073000Z_0001.csv", _rows_text(PAYMENT_COLUMNS, pay_rows))
    ]
    voids_csv = [
        (f"stampli_payments_{COMPANY}_20250401T053000Z_0001.csv", _rows_text(PAYMENT_COLUMNS, void_rows))
    ]
    return Export(files, payments_csv, voids_csv, invoices, len(pay_rows), len(missing_at), image_files)
