"""The payment fixtures (stampli-format.md §5) and the Nordic variants, built from Python objects.

Run ``.venv/bin/python -m tests.stampli.fixture_data`` to (re)write them; test_fixtures.py checks that
the committed files are exactly what this module writes, so they cannot drift.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from ml_connector.domain.documents import DocumentType, Invoice, Payment, PaymentApplication, Provenance
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import read_export
from ml_connector.stampli.write import (
    Dialect,
    write_invoices_csv,
    write_payments_csv,
    write_payments_xml,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "src" / "ml_connector" / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
INVOICES_CSV = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.csv"
INVOICES_XML = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.xml"
PAYMENTS_STEM = "stampli_payments_C100234_20250404T053000Z_0001"
PAYMENTS_CSV = SAMPLES / f"{PAYMENTS_STEM}.csv"
PAYMENTS_XML = SAMPLES / f"{PAYMENTS_STEM}.xml"

CEST = timezone(timedelta(hours=2))
EXPORTED = datetime(2025, 4, 4, 5, 30, tzinfo=UTC)
_PROV = Provenance("fixture", "")


def _app(iid: str, number: str, doc: DocumentType, cur: str, amount: str) -> PaymentApplication:
    return PaymentApplication(iid, number, doc, cur, Decimal(amount), Decimal("0.00"))


def payments() -> list[Payment]:
    """Five payments against the sample invoices; each total is the sum of its applications."""
    inv, cn = DocumentType.INVOICE, DocumentType.CREDIT_NOTE
    return [
        Payment(  # NOK: invoice 2025-1187 netted against credit note KN-2025-0042
            "C100234", "90331870", date(2025, 3, 17), "BANK_TRANSFER", "PAID", "NOK", Decimal("25510.60"),
            "10023", EXPORTED,
            (_app("41877203", "2025-1187", inv, "NOK", "31748.10"),
             _app("41877355", "KN-2025-0042", cn, "NOK", "-6237.50")),
            _PROV, payment_number="PMT-2025-000311", payment_source="STAMPLI_DIRECT_PAY",
            bank_account="DNB-1503.12.34567", exchange_rate=Decimal("1.000000"),
            vendor_name="Nordlys Kontorrekvisita AS", remittance_reference="002511870343",
        ),
        Payment(  # EUR wire, voided
            "C100234", "90332014", date(2025, 3, 28), "WIRE", "VOIDED", "EUR", Decimal("1980.00"),
            "20034", EXPORTED, (_app("41877468", "2025-00417", inv, "EUR", "1980.00"),),
            _PROV, payment_number="PMT-2025-000318", payment_source="STAMPLI_DIRECT_PAY",
            bank_account="DNB-EUR-7001.55.12345", exchange_rate=Decimal("11.548000"),
            vendor_name="Kärkkäinen Ohjelmistot Oy", remittance_reference="RF972025004179",
            voided_at=datetime(2025, 3, 31, 9, 12, 40, tzinfo=CEST),
            void_reason="Feil mottakerkonto (IBAN) – betalingen ble stoppet; sendes på nytt",
        ),
        Payment(  # EUR wire, the re-issue of the voided one
            "C100234", "90332190", date(2025, 4, 1), "WIRE", "PAID", "EUR", Decimal("1980.00"),
            "20034", EXPORTED, (_app("41877468", "2025-00417", inv, "EUR", "1980.00"),),
            _PROV, payment_number="PMT-2025-000327", payment_source="STAMPLI_DIRECT_PAY",
            bank_account="DNB-EUR-7001.55.12345", exchange_rate=Decimal("11.497500"),
            vendor_name="Kärkkäinen Ohjelmistot Oy", remittance_reference="RF972025004179",
        ),
        Payment(  # SEK wire
            "C100234", "90332201", date(2025, 4, 3), "WIRE", "PAID", "SEK", Decimal("24840.00"),
            "20011", EXPORTED, (_app("41877402", "SE-3391", inv, "SEK", "24840.00"),),
            _PROV, payment_number="PMT-2025-000330", payment_source="STAMPLI_DIRECT_PAY",
            bank_account="DNB-SEK-7001.55.67890", exchange_rate=Decimal("1.039000"),
            vendor_name="Åkesson & Söner AB", remittance_reference="SE-3391",
        ),
        Payment(  # NOK bank transfer with KID, paid outside Stampli
            "C100234", "90332233", date(2025, 4, 3), "BANK_TRANSFER", "PAID", "NOK", Decimal("9312.50"),
            "10057", EXPORTED, (_app("41877219", "88412", inv, "NOK", "9312.50"),),
            _PROV, payment_number="PMT-2025-000333", payment_source="MARKED_AS_PAID",
            bank_account="DNB-1503.12.34567", vendor_name="Bjørnstad Transport AS",
            remittance_reference="00088412077",
        ),
    ]  # fmt: skip


NORDIC_ISO = Dialect(delimiter=";", decimal_sep=",", encoding="utf-8-sig", line_terminator="\r\n")
# dd.mm.yyyy dates, Norwegian and oddly-cased headers, reordered columns: needs --profile nordic.
NORDIC_DDMM_INVOICE_HEADERS = {
    "invoiceNumber": "Fakturanummer",
    "vendorId": "Leverandørnummer",
    "invoiceDate": "Fakturadato",
    "dueDate": "Forfallsdato",
    "currency": "Valuta",
    "subtotalAmount": "Nettobeløp",
    "taxAmount": "MVA-beløp",
    "totalAmount": "Totalbeløp",
    "lineNumber": "Linjenummer",
    "glAccount": "Konto",
    "stampliInvoiceId": "Stampli Invoice ID",
    "lineNetAmount": "LINE_NET_AMOUNT",
    "documentType": "document-type",
}
NORDIC_DDMM_PAYMENT_HEADERS = {
    "paymentDate": "Betalingsdato",
    "paymentAmount": "Betalt beløp",
    "stampliPaymentId": "Stampli Payment Id",
    "appliedAmount": "APPLIED_AMOUNT",
    "invoiceCurrency": "invoice-currency",
}


def _reordered(columns: tuple[str, ...]) -> list[str]:
    # Lines first, then the header block reversed: nothing left where the canonical order put it.
    half = len(columns) // 2
    return list(columns[half:]) + list(reversed(columns[:half]))


def sample_invoices() -> list[Invoice]:
    result = read_export(INVOICES_CSV, profile=BUILTIN_PROFILES["canonical"])
    assert result.status == "ok", result.issues
    return list(result.documents)  # type: ignore[arg-type]


def nordic_ddmm(kind: str) -> Dialect:
    from ml_connector.stampli.columns import INVOICE_COLUMNS, PAYMENT_COLUMNS

    cols = INVOICE_COLUMNS if kind == "invoices" else PAYMENT_COLUMNS
    names = NORDIC_DDMM_INVOICE_HEADERS if kind == "invoices" else NORDIC_DDMM_PAYMENT_HEADERS
    return Dialect(
        delimiter=";",
        decimal_sep=",",
        date_format="%d.%m.%Y",
        encoding="utf-8-sig",
        line_terminator="\r\n",
        header_names=names,
        columns=_reordered(cols),
    )


def build_all() -> dict[Path, bytes]:
    """Every generated file and its bytes."""
    out: dict[Path, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="stampli-fixtures-") as scratch_dir:
        _build_into(Path(scratch_dir), out)
    return out


def _build_into(tmp: Path, out: dict[Path, bytes]) -> None:
    pays = payments()
    invs = sample_invoices()
    targets: list[tuple[Path, Callable[[Path], object]]] = [
        (PAYMENTS_CSV, lambda p: write_payments_csv(pays, p)),
        (PAYMENTS_XML, lambda p: write_payments_xml(
            pays, p, company_id="C100234", export_id="exp-20250404T053000Z-0001", generated_at=EXPORTED)),
        (FIXTURES / "stampli_payments_C100234_nordic.csv", lambda p: write_payments_csv(pays, p, NORDIC_ISO)),
        (FIXTURES / "stampli_payments_C100234_nordic_ddmm.csv",
         lambda p: write_payments_csv(pays, p, nordic_ddmm("payments"))),
        (FIXTURES / "stampli_invoices_C100234_nordic.csv", lambda p: write_invoices_csv(invs, p, NORDIC_ISO)),
        (FIXTURES / "stampli_invoices_C100234_nordic_ddmm.csv",
         lambda p: write_invoices_csv(invs, p, nordic_ddmm("invoices"))),
        (FIXTURES / "stampli_invoices_C100234_excel_utf16.tsv",
         lambda p: write_invoices_csv(invs, p, Dialect(delimiter="\t", encoding="utf-16"))),
    ]  # fmt: skip
    for target, write in targets:
        scratch = tmp / target.name
        write(scratch)
        out[target] = scratch.read_bytes()


if __name__ == "__main__":
    for path, data in build_all().items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(REPO)} ({len(data)} bytes)")
