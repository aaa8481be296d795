"""The canonical samples, their XML twins and the Nordic variants all read to the same documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.domain.documents import Invoice, Payment
from ml_connector.entrypoints.cli.app import app
from ml_connector.stampli.write import write_invoices_csv, write_invoices_xml, write_payments_csv
from tests.stampli.fixture_data import FIXTURES, build_all
from tests.stampli.util import (
    CANONICAL,
    INVOICES_CSV,
    INVOICES_XML,
    NORDIC,
    PAYMENTS_CSV,
    PAYMENTS_XML,
    content,
    read,
)

TOTALS = ["31748.10", "9312.50", "-6237.50", "24840.00", "1980.00"]


def without_reference_type(docs: list[dict[str, object]]) -> list[dict[str, object]]:
    # The §4.3 CSV has no column for PaymentReference/@type; everything else must match.
    return [{k: v for k, v in d.items() if k != "paymentReferenceType"} for d in docs]


def test_sample_csv_reads_five_invoices_with_their_totals() -> None:
    result = read(INVOICES_CSV)
    assert result.status == "ok" and result.issues == []
    invoices = [d for d in result.documents if isinstance(d, Invoice)]
    assert [str(i.total_amount) for i in invoices] == TOTALS
    assert [len(i.lines) for i in invoices] == [3, 1, 1, 2, 1]
    freight = invoices[1]
    assert freight.description == "Frakt uke 9.\nGodsmottak: rampe 2, Tiller"
    assert freight.provenance.rows == (5,)
    assert invoices[0].lines[2].line_description == 'Kontorstol "Ergo Pro", sort, for nytt kontor i Ålesund'
    assert invoices[0].approvers == ("siri.haugen@fjordvarme.no", "ingrid.solberg@fjordvarme.no")
    assert invoices[0].approved_at == datetime(2025, 3, 6, 13, 22, 31, tzinfo=UTC)


def test_sample_xml_equals_sample_csv() -> None:
    csv_docs = read(INVOICES_CSV).documents
    xml_result = read(INVOICES_XML)
    assert xml_result.status == "ok" and xml_result.issues == []
    assert without_reference_type(content(xml_result.documents)) == without_reference_type(content(csv_docs))
    refs = [d.payment_reference_type for d in xml_result.documents if isinstance(d, Invoice)]
    assert refs == ["KID", "KID", None, None, "RF"]
    first = xml_result.documents[0]
    assert isinstance(first, Invoice)
    assert first.lines[1].xpath == "/StampliInvoiceExport/Invoice[1]/Lines/Line[2]"


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("stampli_invoices_C100234_nordic.csv", CANONICAL),  # BOM, ';', decimal comma by the §4.2 rule
        ("stampli_invoices_C100234_nordic.csv", NORDIC),
        ("stampli_invoices_C100234_nordic_ddmm.csv", NORDIC),  # + dd.mm.yyyy, aliased and reordered headers
        ("stampli_invoices_C100234_excel_utf16.tsv", CANONICAL),  # UTF-16 BOM, TAB
    ],
)
def test_nordic_invoice_variants_equal_the_canonical_sample(name: str, profile: object) -> None:
    path = FIXTURES / name
    raw = path.read_bytes()
    if name.endswith(".csv"):
        assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"31748,10" in raw
    result = read(path, profile)  # type: ignore[arg-type]
    assert result.status == "ok", result.issues
    assert result.issues == []
    assert content(result.documents) == content(read(INVOICES_CSV).documents)


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("stampli_payments_C100234_nordic.csv", CANONICAL),
        ("stampli_payments_C100234_nordic_ddmm.csv", NORDIC),
    ],
)
def test_nordic_payment_variants_equal_the_canonical_payments(name: str, profile: object) -> None:
    result = read(FIXTURES / name, profile)  # type: ignore[arg-type]
    assert result.status == "ok", result.issues
    assert content(result.documents) == content(read(PAYMENTS_CSV).documents)


def test_payment_samples_csv_and_xml_agree_and_net_the_credit_note() -> None:
    csv_result, xml_result = read(PAYMENTS_CSV), read(PAYMENTS_XML)
    assert csv_result.status == xml_result.status == "ok"
    assert content(csv_result.documents) == content(xml_result.documents)
    payments = [p for p in csv_result.documents if isinstance(p, Payment)]
    netting = payments[0]
    assert netting.payment_amount == Decimal("25510.60")
    assert [(a.stampli_invoice_id, str(a.applied_amount)) for a in netting.applications] == [
        ("41877203", "31748.10"),
        ("41877355", "-6237.50"),
    ]
    voided, reissue = payments[1], payments[2]
    assert voided.payment_status == "VOIDED" and voided.voided_at is not None and voided.void_reason
    assert reissue.payment_status == "PAID"
    assert reissue.applications[0].stampli_invoice_id == voided.applications[0].stampli_invoice_id
    assert {p.payment_currency for p in payments} == {"NOK", "EUR", "SEK"}
    assert payments[4].remittance_reference == "00088412077" and payments[4].payment_method == "BANK_TRANSFER"


def test_committed_fixtures_are_what_the_builder_writes() -> None:
    for path, data in build_all().items():
        assert path.read_bytes() == data, f"{path.name} drifted; run python -m tests.stampli.fixture_data"


def test_writer_reproduces_the_samples_byte_for_byte(tmp_path: Path) -> None:
    invoices = read(INVOICES_CSV).documents
    write_invoices_csv(invoices, tmp_path / "a.csv")  # type: ignore[arg-type]
    assert (tmp_path / "a.csv").read_bytes() == INVOICES_CSV.read_bytes()
    write_invoices_xml(
        read(INVOICES_XML).documents,  # type: ignore[arg-type]
        tmp_path / "a.xml",
        company_id="C100234",
        export_id="exp-20250310T071500Z-0001",
        generated_at=datetime(2025, 3, 10, 7, 15, tzinfo=UTC),
    )
    assert (tmp_path / "a.xml").read_bytes() == INVOICES_XML.read_bytes()
    write_payments_csv(read(PAYMENTS_CSV).documents, tmp_path / "p.csv")  # type: ignore[arg-type]
    assert (tmp_path / "p.csv").read_bytes() == PAYMENTS_CSV.read_bytes()


# ---- the "done when" of the issue, through the real CLI -------------------------------------------


def _inspect(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["inspect", "--json", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines


def test_inspect_json_gives_the_same_five_invoices_for_samples_and_nordic_variants() -> None:
    code, canonical = _inspect(
        str(INVOICES_CSV), str(INVOICES_XML), str(FIXTURES / "stampli_invoices_C100234_nordic.csv")
    )
    code2, nordic = _inspect(
        "--profile", "nordic", str(FIXTURES / "stampli_invoices_C100234_nordic_ddmm.csv")
    )
    assert code == code2 == 0
    outputs = canonical + nordic
    assert len(outputs) == 4
    for out in outputs:
        assert out["kind"] == "invoices" and out["status"] == "ok" and out["issues"] == []
        docs = out["documents"]
        assert isinstance(docs, list)
        assert [d["totalAmount"] for d in docs] == TOTALS
        assert [d["key"] for d in docs] == [
            "INV:41877203", "INV:41877219", "INV:41877355", "INV:41877402", "INV:41877468",
        ]  # fmt: skip
        assert [len(d["lines"]) for d in docs] == [3, 1, 1, 2, 1]
    first = canonical[0]["documents"]
    assert isinstance(first, list)
    assert first[2]["lines"][0]["lineNetAmount"] == "-4990.00"


def test_inspect_json_payments() -> None:
    code, out = _inspect(str(PAYMENTS_CSV), str(PAYMENTS_XML))
    assert code == 0
    for obj in out:
        assert obj["kind"] == "payments" and obj["status"] == "ok"
        docs = obj["documents"]
        assert isinstance(docs, list)
        assert docs[0]["paymentAmount"] == "25510.60"
        assert [a["appliedAmount"] for a in docs[0]["applications"]] == ["31748.10", "-6237.50"]
