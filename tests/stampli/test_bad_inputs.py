"""The bad-input corpus: each file is built here, read, and must give its exact issue code.

File-level codes reject the whole file; record-level codes reject one invoice or payment while the
others of the same file go on (checked: the remaining documents are still accepted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ml_connector.domain.issues import Level
from ml_connector.stampli.codes import ISSUE_SCOPES
from ml_connector.stampli.profile import ReaderLimits, ReaderProfile
from tests.stampli.util import (
    CANONICAL,
    INVOICES_CSV,
    INVOICES_XML,
    PAYMENTS_CSV,
    csv_text,
    invoice_rows,
    payment_rows,
    read,
    set_cell,
    write_rows,
)

SAMPLE = INVOICES_CSV.read_bytes()
XML = INVOICES_XML.read_text("utf-8")


@dataclass
class Case:
    name: str
    make: Callable[[Path], Path]
    code: str
    status: str
    profile: ReaderProfile = CANONICAL
    kind: str | None = None
    where: dict[str, Any] = field(default_factory=dict)  # expected row / xpath / field of the issue
    accepted: int | None = None  # documents still accepted


def raw(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        p.write_bytes(data)
        return p

    return make


def cells(
    changes: list[tuple[int, str, str]], name: str = "stampli_invoices_x.csv"
) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        rows = invoice_rows()
        for record, column, value in changes:
            set_cell(rows, record, column, value)
        return write_rows(tmp / name, rows)

    return make


def pay_cells(changes: list[tuple[int, str, str]]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        rows = payment_rows()
        for record, column, value in changes:
            set_cell(rows, record, column, value)
        return write_rows(tmp / "stampli_payments_x.csv", rows)

    return make


def xml(name: str, text: str) -> Callable[[Path], Path]:
    return raw(name, text.encode("utf-8"))


def dropped_column(column: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        rows = invoice_rows()
        i = rows[0].index(column)
        return write_rows(tmp / "inv.csv", [r[:i] + r[i + 1 :] for r in rows])

    return make


def extra_column(tmp: Path) -> Path:
    rows = invoice_rows()
    rows[0].append("batchNo")
    for n, row in enumerate(rows[1:], start=1):
        row.append(f"B{n}")
    return write_rows(tmp / "inv.csv", rows)


def long_header(tmp: Path) -> Path:
    rows = invoice_rows()
    rows[0].append("y" * 140_000)  # over csv's own 131,072 limit: csv.reader raises on it
    for row in rows[1:]:
        row.append("")
    return write_rows(tmp / "inv.csv", rows)


def cp1252(tmp: Path) -> Path:
    p = tmp / "stampli_invoices_cp1252.csv"
    text = SAMPLE.decode("utf-8").replace("–", "-")  # the en dash exists in cp1252 too, but keep it plain
    p.write_bytes(text.encode("cp1252"))
    return p


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<StampliInvoiceExport invoiceCount="0">&lol3;</StampliInvoiceExport>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<StampliInvoiceExport invoiceCount="0"><Note>&x;</Note></StampliInvoiceExport>"""
PARAM = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]>
<StampliInvoiceExport invoiceCount="0"/>"""
DEEP = '<StampliInvoiceExport invoiceCount="0">' + "<a>" * 100 + "</a>" * 100 + "</StampliInvoiceExport>"
SUBTOTAL_ROW = 2  # the first invoice (41877203) starts on record 2; rows 2-4 are its three lines

CASES = [
    # ---- file level ------------------------------------------------------------------------------
    Case(
        "truncated inside a quoted field",
        raw("t.csv", SAMPLE[: SAMPLE.index(b"Frakt uke 9.") + 5]),
        "unterminated_quote",
        "rejected",
    ),
    Case(
        "truncated mid-record",
        raw("t.csv", SAMPLE[: SAMPLE.rindex(b"132.00")]),
        "truncated_file",
        "rejected",
        where={"row": 9},
    ),
    Case(
        "bytes that are neither UTF-8 nor cp1252",
        raw("e.csv", SAMPLE.replace(b"\xc3\x85", b"\x81\x8d")),
        "encoding_error",
        "rejected",
    ),
    Case(
        "UTF-16 without BOM", raw("u.csv", SAMPLE.decode().encode("utf-16-le")), "encoding_error", "rejected"
    ),
    Case(
        "explicit encoding that does not fit",
        raw("e.csv", SAMPLE.replace(b"\xc3\x85", b"\xc5")),
        "encoding_error",
        "rejected",
        profile=CANONICAL.with_(encoding="utf-8"),
    ),
    Case("empty file", raw("e.csv", b""), "empty_file", "rejected"),
    Case("blank header", raw("e.csv", b"\r\n\r\n"), "empty_file", "rejected"),
    Case(
        "missing required column",
        dropped_column("totalAmount"),
        "missing_column",
        "rejected",
        where={"field": "totalAmount"},
    ),
    Case("missing required line column", dropped_column("lineNetAmount"), "missing_column", "rejected"),
    Case("duplicate column", cells([(1, "poNumber", "Invoice Number")]), "duplicate_column", "rejected"),
    Case("a 10 MB field", cells([(3, "lineDescription", "x" * 10_000_000)]), "field_too_large", "rejected"),
    Case(
        "a field over max_field_chars",
        cells([(3, "lineDescription", "x" * 5000)]),
        "field_too_large",
        "rejected",
        profile=CANONICAL.with_(limits=ReaderLimits(max_field_chars=1000)),
        where={"row": 3},
    ),
    Case("pipe-delimited", raw("p.csv", SAMPLE.replace(b",", b"|")), "delimiter_undetected", "rejected"),
    Case(
        "character after closing quote",
        raw("q.csv", SAMPLE.replace(b'"Kopipapir', b'"Ko"pipapir', 1)),
        "malformed_csv",
        "rejected",
    ),
    Case(
        "record with an extra field mid-file",
        raw("x.csv", SAMPLE.replace(b"AES,,P-2025-014,\r\n", b"AES,,P-2025-014,,\r\n", 1)),
        "row_field_count",
        "rejected",
        where={"row": 4},
    ),
    Case(
        "a record of one field mid-file (no id cell to group it by)",
        raw("s.csv", b"\r\n".join([*SAMPLE.split(b"\r\n")[:3], b"C100234", *SAMPLE.split(b"\r\n")[3:]])),
        "row_field_count",
        "rejected",
        where={"row": 4},
    ),
    Case(
        "a record of one field at the end, without its line end",
        raw("s.csv", SAMPLE.rstrip(b"\r\n") + b"\r\nC100234"),
        "truncated_file",
        "rejected",
    ),
    Case(
        "wrong company", cells([]), "company_mismatch", "rejected", profile=CANONICAL.with_(company_id="C999")
    ),
    Case(
        "payments file read as invoices",
        raw("p.csv", PAYMENTS_CSV.read_bytes()),
        "kind_mismatch",
        "rejected",
        kind="invoices",
    ),
    Case(
        "neither invoices nor payments",
        raw("export.csv", b"vendorId,vendorName,currency,invoiceNumber\r\n1,a,NOK,2\r\n"),
        "unknown_kind",
        "rejected",
    ),
    Case(
        "too many rows",
        cells([]),
        "too_many_rows",
        "rejected",
        profile=CANONICAL.with_(limits=ReaderLimits(max_rows=3)),
    ),
    Case(
        "file over max_file_bytes",
        cells([]),
        "file_too_large",
        "rejected",
        profile=CANONICAL.with_(limits=ReaderLimits(max_file_bytes=1000)),
    ),
    Case("XML billion laughs", xml("b.xml", BOMB), "xml_doctype", "rejected"),
    Case("XML external entity (XXE)", xml("x.xml", XXE), "xml_doctype", "rejected"),
    Case("XML parameter entity", xml("p.xml", PARAM), "xml_doctype", "rejected"),
    Case("XML truncated", xml("t.xml", XML[: len(XML) // 2]), "xml_malformed", "rejected"),
    Case("XML undefined entity", xml("u.xml", XML.replace("&amp;", "&nbsp;")), "xml_malformed", "rejected"),
    Case(
        "XML invoiceCount mismatch",
        xml("c.xml", XML.replace('invoiceCount="5"', 'invoiceCount="6"')),
        "count_mismatch",
        "rejected",
        where={"xpath": "/StampliInvoiceExport"},
    ),
    Case(
        "XML without invoiceCount",
        xml("c.xml", XML.replace(' invoiceCount="5"', "")),
        "missing_count",
        "rejected",
    ),
    Case("XML nested too deep", xml("d.xml", DEEP), "xml_too_deep", "rejected"),
    Case("XML unknown root", xml("r.xml", "<Invoices><Invoice/></Invoices>"), "unknown_kind", "rejected"),
    Case(
        "XML 10 MB text node",
        xml("f.xml", XML.replace("Frakt uke 9.", "x" * 10_000_000)),
        "field_too_large",
        "rejected",
    ),
    Case(
        "XML unknown encoding",
        raw("e.xml", XML.replace("UTF-8", "X-NO-SUCH").encode()),
        "encoding_error",
        "rejected",
    ),
    Case(
        "XML wrong company",
        xml("w.xml", XML),
        "company_mismatch",
        "rejected",
        profile=CANONICAL.with_(company_id="C999"),
    ),
    # ---- record level: one invoice rejected, the other four accepted -------------------------------
    Case(
        "lines do not sum to subtotal",
        cells([(r, "subtotalAmount", "25734.01") for r in (2, 3, 4)]),
        "subtotal_mismatch",
        "partial",
        where={"row": 2, "field": "subtotalAmount"},
        accepted=4,
    ),
    Case(
        "line taxes do not sum to tax",
        cells([(3, "lineTaxAmount", "629.00")]),
        "tax_mismatch",
        "partial",
        accepted=4,
    ),
    Case(
        "subtotal + tax is not total",
        cells([(5, "totalAmount", "9312.60")]),
        "total_mismatch",
        "partial",
        where={"row": 5},
        accepted=4,
    ),
    Case(
        "credit note with positive amounts",
        cells(
            [
                (6, "subtotalAmount", "4990.00"),
                (6, "taxAmount", "1247.50"),
                (6, "totalAmount", "6237.50"),
                (6, "lineNetAmount", "4990.00"),
                (6, "lineTaxAmount", "1247.50"),
                (6, "quantity", "1"),
            ]
        ),
        "sign_mismatch",
        "partial",
        where={"row": 6},
        accepted=4,
    ),
    Case(
        "not approved",
        cells([(5, "approvalStatus", "PENDING_APPROVAL")]),
        "not_approved",
        "partial",
        where={"row": 5, "field": "approvalStatus"},
        accepted=4,
    ),
    Case(
        "duplicate line numbers",
        cells([(8, "lineNumber", "1")]),
        "duplicate_line_number",
        "partial",
        where={"row": 8},
        accepted=4,
    ),
    Case(
        "impossible date",
        cells([(9, "invoiceDate", "2025-02-30")]),
        "invalid_date",
        "partial",
        where={"row": 9, "field": "invoiceDate"},
        accepted=4,
    ),
    Case(
        "DD.MM date under an ISO-only profile",
        cells([(9, "dueDate", "31.03.2025")]),
        "invalid_date",
        "partial",
        accepted=4,
    ),
    Case(
        "thousands separator", cells([(9, "unitPrice", "1,980.00")]), "invalid_amount", "partial", accepted=4
    ),
    Case(
        "accounting negative",
        cells([(6, "lineNetAmount", "(4990.00)")]),
        "invalid_amount",
        "partial",
        accepted=4,
    ),
    Case(
        "header fields differ between rows",
        cells([(3, "vendorName", "Nordlys AS")]),
        "header_mismatch",
        "partial",
        where={"row": 3, "field": "vendorName"},
        accepted=4,
    ),
    Case("bad currency", cells([(9, "currency", "EURO")]), "invalid_currency", "partial", accepted=4),
    Case(
        "amount out of range", cells([(9, "quantity", "9" * 5000)]), "invalid_amount", "partial", accepted=4
    ),
    Case(
        "line number out of range",
        cells([(9, "lineNumber", "1" * 5000)]),
        "invalid_number",
        "partial",
        accepted=4,
    ),
    Case("bad line number", cells([(5, "lineNumber", "1a")]), "invalid_number", "partial", accepted=4),
    Case("empty required value", cells([(5, "vendorId", "")]), "missing_value", "partial", accepted=4),
    Case(
        "GL line without account",
        cells([(5, "glAccount", "")]),
        "missing_value",
        "partial",
        where={"row": 5, "field": "glAccount"},
        accepted=4,
    ),
    Case(
        "unknown document type", cells([(5, "documentType", "BILL")]), "invalid_value", "partial", accepted=4
    ),
    Case(
        "bad timestamp", cells([(5, "approvedAt", "yesterday")]), "invalid_timestamp", "partial", accepted=4
    ),
    Case("N/A is not null", cells([(5, "taxAmount", "N/A")]), "invalid_amount", "partial", accepted=4),
    Case(
        "too many lines",
        cells([]),
        "too_many_lines",
        "partial",
        profile=CANONICAL.with_(limits=ReaderLimits(max_lines_per_document=2)),
        accepted=4,
    ),
    Case(
        "XML duplicate invoice id",
        xml("d.xml", XML.replace("<StampliInvoiceId>41877219<", "<StampliInvoiceId>41877203<")),
        "duplicate_document",
        "partial",
        where={"xpath": "/StampliInvoiceExport/Invoice[2]"},
        accepted=4,
    ),
    Case(
        "XML sum mismatch",
        xml("s.xml", XML.replace("<Total>9312.50</Total>", "<Total>9312.40</Total>")),
        "total_mismatch",
        "partial",
        where={"xpath": "/StampliInvoiceExport/Invoice[2]"},
        accepted=4,
    ),
    Case(
        "payment total differs from applications",
        pay_cells([(2, "paymentAmount", "25510.00"), (3, "paymentAmount", "25510.00")]),
        "payment_amount_mismatch",
        "partial",
        accepted=4,
    ),
    Case(
        "payment applied twice to one invoice",
        pay_cells([(3, "stampliInvoiceId", "41877203")]),
        "duplicate_application",
        "partial",
        accepted=4,
    ),
    Case(
        "credit note applied with a positive amount",
        pay_cells([(3, "appliedAmount", "6237.50")]),
        "sign_mismatch",
        "partial",
        where={"row": 3},
        accepted=4,
    ),
    Case(
        "unknown payment status",
        pay_cells([(6, "paymentStatus", "BOUNCED")]),
        "invalid_value",
        "partial",
        accepted=4,
    ),
    # ---- issue 19: hostile values ------------------------------------------------------------------
    Case(
        "first line longer than csv's own field limit",
        long_header,
        "field_too_large",
        "rejected",
        where={"row": 1, "field": "column43"},
    ),
    Case(
        "a 10 MB field names its row and column",
        cells([(3, "lineDescription", "x" * 10_000_000)]),
        "field_too_large",
        "rejected",
        where={"row": 3, "field": "lineDescription"},
    ),
    Case(
        "XML invoiceCount in superscript digits",
        xml("c.xml", XML.replace('invoiceCount="5"', 'invoiceCount="\u2075"')),
        "count_mismatch",
        "rejected",
        where={"line": 2},
    ),
    Case(
        "XML Approver sequence in superscript digits",
        xml("a.xml", XML.replace('<Approver sequence="2"', '<Approver sequence="\u00b2"', 1)),
        "invalid_number",
        "partial",
        where={"field": "approvers"},
        accepted=4,
    ),
    Case(
        "XML text mixed with an element",
        xml("m.xml", XML.replace("<Total>9312.50</Total>", "<Total>9312.50<Hidden/>0</Total>")),
        "mixed_content",
        "partial",
        where={"xpath": "/StampliInvoiceExport/Invoice[2]/Amounts/Total"},
        accepted=4,
    ),
    Case(
        "XML second Total",
        xml("t.xml", XML.replace("<Total>9312.50</Total>", "<Total>9312.50</Total><Total>0.00</Total>")),
        "duplicate_element",
        "partial",
        where={"xpath": "/StampliInvoiceExport/Invoice[2]/Amounts/Total[2]"},
        accepted=4,
    ),
    Case(
        "amount finer than the currency's minor unit",
        cells([(5, "taxAmount", "1862.505")]),
        "invalid_amount",
        "partial",
        where={"field": "taxAmount", "row": 5},
        accepted=4,
    ),
    Case(
        "full-width digits in an amount",
        cells([(5, "lineNetAmount", "\uff17\uff14\uff15\uff10.00")]),
        "invalid_amount",
        "partial",
        where={"field": "lineNetAmount"},
        accepted=4,
    ),
    Case(
        "full-width digits in a date",
        cells([(5, "dueDate", "\uff12\uff10\uff12\uff15-04-06")]),
        "invalid_date",
        "partial",
        where={"field": "dueDate"},
        accepted=4,
    ),
    Case(
        "exchange rate of 0",
        cells([(5, "exchangeRate", "0")]),
        "invalid_amount",
        "partial",
        where={"field": "exchangeRate"},
        accepted=4,
    ),
    Case(
        "zero-width space in an invoice id",
        cells([(5, "stampliInvoiceId", "41877\u200b219")]),
        "invalid_value",
        "partial",
        where={"field": "stampliInvoiceId"},
        accepted=4,
    ),
    Case(
        "NUL byte in a description",
        cells([(5, "lineDescription", "Frakt\x00uke 9")]),
        "invalid_value",
        "partial",
        where={"field": "lineDescription"},
        accepted=4,
    ),
    Case(
        "scheduled payment",
        pay_cells([(6, "paymentStatus", "SCHEDULED")]),
        "not_paid",
        "partial",
        where={"field": "paymentStatus"},
        accepted=4,
    ),
    # ---- warnings: accepted, but said ----------------------------------------------------------------
    Case("cp1252 file", cp1252, "encoding_fallback", "ok", accepted=5),
    Case("header only", raw("h.csv", SAMPLE[: SAMPLE.index(b"\r\n") + 2]), "no_records", "ok", accepted=0),
    Case("unknown column", extra_column, "unknown_column", "ok", where={"field": "batchNo"}, accepted=5),
    Case(
        "quantity x price differs from net",
        cells([(9, "quantity", "14")]),
        "line_net_mismatch",
        "ok",
        where={"row": 9},
        accepted=5,
    ),
    Case(
        "naive timestamp",
        cells([(5, "approvedAt", "2025-03-07T09:05:12")]),
        "naive_timestamp",
        "ok",
        accepted=5,
    ),
    Case(
        "voided without voidedAt",
        pay_cells([(4, "voidedAt", "")]),
        "void_without_timestamp",
        "ok",
        accepted=5,
    ),
    Case(
        "XML unknown element",
        xml("u.xml", XML.replace("<PONumber/>", "<PONumber/><Batch>7</Batch>", 1)),
        "unknown_element",
        "ok",
        accepted=5,
    ),
]


def test_the_corpus_is_big_enough_and_covers_every_code() -> None:
    assert len(CASES) >= 30
    assert {c.code for c in CASES} == set(ISSUE_SCOPES) - {"io_error"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    result = read(path, case.profile, kind=case.kind)
    assert result.status == case.status, [str(i) for i in result.issues]
    matching = [i for i in result.issues if i.code == case.code]
    assert matching, f"expected {case.code}, got {[str(i) for i in result.issues]}"
    issue = matching[0]
    scope = ISSUE_SCOPES[case.code]
    assert issue.level == (Level.WARNING if scope == "warning" else Level.ERROR)
    assert issue.message and issue.file == str(path)
    for key, value in case.where.items():
        assert getattr(issue, key) == value, (key, issue)
    if scope == "file":
        assert result.documents == [] and result.rejected == []
    if scope == "record":
        assert len(result.rejected) == 1
        rejected = result.rejected[0]
        assert case.code in {i.code for i in rejected.issues}
        assert rejected.raw and rejected.parsed
        assert rejected.key and rejected.key.startswith(("INV:", "PAY:"))
        assert rejected.provenance.rows or rejected.provenance.xpath
        assert result.kind in ("invoices", "payments")
    if case.accepted is not None:
        assert len(result.documents) == case.accepted


def test_rejected_csv_record_keeps_its_raw_rows_for_replay(tmp_path: Path) -> None:
    path = cells([(5, "approvalStatus", "PENDING_APPROVAL")])(tmp_path)
    result = read(path)
    (rec,) = result.rejected
    assert rec.key == "INV:41877219" and rec.kind == "invoice" and rec.skipped
    assert rec.raw.startswith("stampliCompanyId,stampliInvoiceId,")
    assert "Frakt uke 9.\nGodsmottak: rampe 2, Tiller" in rec.raw and "PENDING_APPROVAL" in rec.raw
    assert rec.parsed is not None and rec.parsed["invoiceNumber"] == "88412"
    assert rec.parsed["lines"][0]["lineNetAmount"] == "7450.00"
    assert rec.provenance.rows == (5,)
    # The raw text alone is a valid one-invoice file: replaying it after the fix works.
    fixed = tmp_path / "replay.csv"
    fixed.write_text(rec.raw.replace("PENDING_APPROVAL", "APPROVED"), "utf-8")
    replay = read(fixed)
    assert replay.status == "ok" and replay.documents[0].key == "INV:41877219"


def test_rejected_xml_record_keeps_its_fragment(tmp_path: Path) -> None:
    path = xml(
        "s.xml",
        XML.replace(
            'status="APPROVED" approvedAt="2025-03-07T09', 'status="REJECTED" approvedAt="2025-03-07T09'
        ),
    )(tmp_path)
    (rec,) = read(path).rejected
    assert rec.raw.startswith("<Invoice>") and "<InvoiceNumber>88412</InvoiceNumber>" in rec.raw
    assert rec.provenance.xpath == "/StampliInvoiceExport/Invoice[2]"
    assert [i.code for i in rec.issues if i.level == Level.ERROR] == ["not_approved"]


def test_rejected_payment_is_one_record_for_all_its_applications(tmp_path: Path) -> None:
    path = pay_cells([(2, "paymentAmount", "1.00"), (3, "paymentAmount", "1.00")])(tmp_path)
    (rec,) = read(path).rejected
    assert rec.kind == "payment_application" and rec.key == "PAY:90331870"
    assert rec.provenance.rows == (2, 3)
    assert rec.raw.count("\r\n") == 3  # header + two application rows


def test_io_error_for_a_missing_file(tmp_path: Path) -> None:
    result = read(tmp_path / "nope.csv")
    assert result.status == "rejected" and [i.code for i in result.issues] == ["io_error"]


def test_csv_text_helper_round_trips() -> None:
    assert csv_text([["a", "b,c"]]) == 'a,"b,c"\r\n'
