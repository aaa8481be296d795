"""Issue 19: hostile values the readers must refuse or read one way only (points 1, 2, 4-7, 12)."""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.domain.documents import (
    document_key,
    invoice_document_key,
    invoice_key,
    payment_key,
)
from ml_connector.domain.money import finer_than_minor_unit, minor_units
from ml_connector.entrypoints.cli.app import app
from ml_connector.stampli.build import RawDocument
from ml_connector.stampli.columns import resolve_header
from ml_connector.stampli.csv_reader import key_function
from ml_connector.stampli.profile import ReaderLimits
from ml_connector.stampli.values import BadValue, ValueRules
from tests.stampli.util import (
    CANONICAL,
    INVOICES_XML,
    invoice_rows,
    payment_rows,
    read,
    set_cell,
    write_rows,
)

XML = INVOICES_XML.read_text("utf-8")


# ---- point 1: inputs that used to raise ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("count.xml", lambda: XML.replace('invoiceCount="5"', 'invoiceCount="\u2075"').encode()),
        ("seq.xml", lambda: XML.replace('sequence="2"', 'sequence="\u00b2"').encode()),
        ("long.csv", lambda: b"y" * 140_000 + b",invoiceNumber\r\n"),
    ],
)
def test_inspect_reports_instead_of_raising(name: str, make: object, tmp_path: Path) -> None:
    path = tmp_path / f"stampli_invoices_{name}"
    path.write_bytes(make())  # type: ignore[operator]
    result = CliRunner().invoke(app, ["inspect", "--json", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    out = json.loads(result.stdout)
    assert out["status"] in ("rejected", "partial") and out["issues"]


# ---- point 2: only APPROVED invoices and PAID payments post ------------------------------------


def test_ready_for_export_is_skipped_unless_the_profile_allows_it(tmp_path: Path) -> None:
    rows = set_cell(invoice_rows(), 5, "approvalStatus", "READY_FOR_EXPORT")
    path = write_rows(tmp_path / "stampli_invoices_r.csv", rows)
    (rec,) = read(path).rejected
    assert rec.skipped and [i.code for i in rec.issues] == ["not_approved"]
    allowed = read(path, CANONICAL.with_(approved_statuses=frozenset({"APPROVED", "READY_FOR_EXPORT"})))
    assert allowed.status == "ok" and len(allowed.documents) == 5


@pytest.mark.parametrize(("status", "skipped"), [("SCHEDULED", True), ("FAILED", True), ("BOUNCED", False)])
def test_a_payment_that_is_not_paid_is_skipped_and_an_unknown_status_rejected(
    status: str, skipped: bool, tmp_path: Path
) -> None:
    rows = set_cell(payment_rows(), 6, "paymentStatus", status)
    result = read(write_rows(tmp_path / "stampli_payments_s.csv", rows))
    (rec,) = result.rejected
    assert rec.skipped is skipped
    issue = next(i for i in rec.issues if i.field == "paymentStatus")
    assert issue.code == ("not_paid" if skipped else "invalid_value") and status in issue.message
    assert len(result.documents) == 4


# ---- point 4: the currency's minor unit -----------------------------------------------------------


def test_minor_units_follow_iso_4217() -> None:
    assert (minor_units("NOK"), minor_units("JPY"), minor_units("KWD"), minor_units("CLF")) == (2, 0, 3, 4)
    assert finer_than_minor_unit(Decimal("100.005"), "NOK")
    assert not finer_than_minor_unit(Decimal("100.000"), "NOK")
    assert finer_than_minor_unit(Decimal("5.5"), "JPY") and not finer_than_minor_unit(Decimal("5.0"), "JPY")
    assert not finer_than_minor_unit(Decimal("1.005"), "BHD")


def test_two_amounts_of_half_a_cent_are_rejected_naming_the_field(tmp_path: Path) -> None:
    rows = invoice_rows()
    for column in ("lineTaxAmount", "taxAmount"):
        set_cell(rows, 5, column, "1862.505")
    set_cell(rows, 5, "totalAmount", "9312.505")
    result = read(write_rows(tmp_path / "stampli_invoices_m.csv", rows))
    (rec,) = result.rejected
    fields = {i.field for i in rec.issues if i.code == "invalid_amount"}
    assert fields == {"lineTaxAmount", "taxAmount", "totalAmount"}
    assert all("NOK" in i.message for i in rec.issues if i.code == "invalid_amount")


def test_a_payment_application_is_checked_in_the_invoice_currency(tmp_path: Path) -> None:
    rows = set_cell(payment_rows(), 2, "appliedAmount", "31748.105")
    (rec,) = read(write_rows(tmp_path / "stampli_payments_m.csv", rows)).rejected
    assert any(i.code == "invalid_amount" and i.field == "appliedAmount" and i.row == 2 for i in rec.issues)


# ---- point 5: a thousands separator is never guessed ---------------------------------------------


def test_comma_rule_refuses_a_dot_that_may_group_thousands() -> None:
    rules = ValueRules(comma_rule=True)
    assert rules.amount("7,45") == Decimal("7.45") and rules.amount("7.45") == Decimal("7.45")
    assert rules.amount("1234.567") == Decimal("1234.567")  # not a thousands grouping
    for text in ("7.450", "-1.000", "12.345.678"):
        with pytest.raises(BadValue, match="thousands"):
            rules.amount(text)
    assert ValueRules(comma_rule=True, thousands_sep=" ").amount("7.450") == Decimal("7.450")
    assert ValueRules(decimal_sep=",", thousands_sep=".").amount("7.450") == Decimal(7450)


def test_a_semicolon_file_with_7450_rejects_that_invoice(tmp_path: Path) -> None:
    rows = set_cell(invoice_rows(), 5, "quantity", "1.000")
    result = read(write_rows(tmp_path / "stampli_invoices_c.csv", rows, delimiter=";"))
    (rec,) = result.rejected
    assert [(i.code, i.field, i.row) for i in rec.issues if i.level == "error"] == [
        ("invalid_amount", "quantity", 5)
    ]
    assert len(result.documents) == 4


# ---- point 6: ASCII digits, positive rates, XML structure -----------------------------------------


@pytest.mark.parametrize("digit", ["\uff15", "\u0665", "\u096b", "\U0001d7d3"])
def test_only_ascii_digits(digit: str) -> None:
    rules = ValueRules()
    with pytest.raises(BadValue):
        rules.amount(f"1{digit}.00")
    with pytest.raises(BadValue):
        rules.integer(digit)
    with pytest.raises(BadValue):
        rules.date(f"2025-03-0{digit}")
    with pytest.raises(BadValue):
        rules.timestamp(f"2025-03-0{digit}T10:00:00Z")


def test_control_characters_in_optional_payment_fields_reject_the_payment(tmp_path: Path) -> None:
    rows = payment_rows()
    for record in (2, 3):
        set_cell(rows, record, "remittanceReference", "0025\x1b11870343")
    (rec,) = read(write_rows(tmp_path / "stampli_payments_c.csv", rows)).rejected
    assert [(i.code, i.field) for i in rec.issues] == [("invalid_value", "remittanceReference")]


def test_a_negative_payment_exchange_rate_is_refused(tmp_path: Path) -> None:
    rows = payment_rows()
    for record in (2, 3):
        set_cell(rows, record, "exchangeRate", "-1.000000")
    (rec,) = read(write_rows(tmp_path / "stampli_payments_r.csv", rows)).rejected
    assert any(i.code == "invalid_amount" and i.field == "exchangeRate" for i in rec.issues)


def test_a_second_lines_element_rejects_the_invoice(tmp_path: Path) -> None:
    path = tmp_path / "stampli_invoices_l.xml"
    first = XML.index("<Lines>")
    path.write_text(XML[:first] + "<Lines/>" + XML[first:], "utf-8")
    result = read(path)
    (rec,) = result.rejected
    assert [i.code for i in rec.issues] == ["duplicate_element"] and len(result.documents) == 4


# ---- point 7: one normal form for ids, one function for keys --------------------------------------


def test_keys_are_built_one_way() -> None:
    nfd = unicodedata.normalize("NFD", "FAKTURA-Å1")
    assert nfd != "FAKTURA-Å1"
    assert document_key("INV", nfd) == document_key("INV", " FAKTURA-Å1 ") == "INV:FAKTURA-Å1"
    assert invoice_document_key(None, "C1", "V1", f"ab {nfd}", "invoice") == "INVX:C1:V1:ABFAKTURA-Å1:INVOICE"
    assert payment_key("9") == "PAY:9" and payment_key("9", voided=True) == "PAYV:9"
    assert document_key("INV", "41877\u200b219") == "INV:41877<U+200B>219"  # never hidden in a key


def test_the_csv_grouping_key_the_raw_key_and_the_document_key_agree(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 5, "stampliInvoiceId", "")
    set_cell(rows, 5, "invoiceNumber", unicodedata.normalize("NFD", "88412-Ø"))
    result = read(write_rows(tmp_path / "stampli_invoices_k.csv", rows))
    doc = next(d for d in result.documents if d.invoice_number.startswith("88412"))  # type: ignore[union-attr]
    assert doc.invoice_number == "88412-Ø"  # type: ignore[union-attr]  # NFC
    header = resolve_header(rows[0], "invoices", {})
    grouping = key_function("invoices", header)(rows[4])
    raw = RawDocument("invoice", dict(zip(rows[0], rows[4], strict=True)), []).key()
    vendor = rows[4][rows[0].index("vendorId")]
    assert grouping == raw == invoice_key(doc) == f"INVX:C100234:{vendor}:88412-Ø:INVOICE"  # type: ignore[arg-type]


def test_a_zero_width_space_cannot_make_a_second_invoice(tmp_path: Path) -> None:
    rows = set_cell(invoice_rows(), 5, "stampliInvoiceId", "41877\u200b219")
    (rec,) = read(write_rows(tmp_path / "stampli_invoices_z.csv", rows)).rejected
    assert rec.key == "INV:41877<U+200B>219"
    assert [(i.code, i.field) for i in rec.issues] == [("invalid_value", "stampliInvoiceId")]
    assert "U+200B" in rec.issues[0].message


@pytest.mark.parametrize(
    "column", ["vendorName", "lineDescription", "paymentTerms", "poNumber", "description", "vendorTaxId"]
)
def test_control_characters_never_reach_visma(column: str, tmp_path: Path) -> None:
    rows = set_cell(invoice_rows(), 5, column, "a\x00b")
    (rec,) = read(write_rows(tmp_path / "stampli_invoices_n.csv", rows)).rejected
    assert [(i.code, i.field) for i in rec.issues] == [("invalid_value", column)]
    assert "U+0000" in rec.issues[0].message


# ---- point 12: precise file-level locations -------------------------------------------------------


def test_field_too_large_names_row_column_and_the_configured_limit(tmp_path: Path) -> None:
    rows = set_cell(invoice_rows(), 3, "vendorName", "x" * 2000)
    path = write_rows(tmp_path / "stampli_invoices_b.csv", rows)
    result = read(path, CANONICAL.with_(limits=ReaderLimits(max_field_chars=1000)))
    (issue,) = result.issues
    assert (issue.code, issue.row, issue.field) == ("field_too_large", 3, "vendorName")
    assert "limit is 1000 " in issue.message and "131072" not in issue.message and "column 8" in issue.message
    huge = write_rows(
        tmp_path / "stampli_invoices_h.csv", set_cell(invoice_rows(), 3, "vendorName", "x" * 200_000)
    )
    (issue,) = read(huge).issues
    assert (issue.code, issue.row, issue.field) == ("field_too_large", 3, "vendorName")
    assert "limit is 100000 " in issue.message and "131072" not in issue.message


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (XML.replace("<Invoice>", "<!DOCTYPE x><Invoice>", 1), "xml_malformed", 3),
        ('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<StampliInvoiceExport/>', "xml_doctype", 2),
        (XML.replace('invoiceCount="5"', 'invoiceCount="4"'), "count_mismatch", 2),
        (XML.replace(' invoiceCount="5"', ""), "missing_count", 2),
        ("\n\n<Invoices/>", "unknown_kind", 3),
        (XML[: len(XML) // 2], "xml_malformed", XML[: len(XML) // 2].count("\n") + 1),
    ],
)
def test_xml_file_rejections_name_a_line(text: str, code: str, line: int, tmp_path: Path) -> None:
    path = tmp_path / "stampli_invoices_x.xml"
    path.write_text(text, "utf-8")
    result = read(path)
    assert result.status == "rejected"
    assert [(i.code, i.line) for i in result.issues] == [(code, line)]
    assert f"line {line}" in str(result.issues[0])
