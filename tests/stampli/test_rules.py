"""Unit tests for the reader rules of stampli-format.md §4.2 (dialect) and §4.7 (validation)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.domain.documents import Invoice
from ml_connector.stampli.build import BuildContext, build_invoice
from ml_connector.stampli.csv_reader import iter_csv_documents, scan_csv
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import RejectedRecord, iter_export
from tests.stampli.util import (
    CANONICAL,
    INVOICES_CSV,
    INVOICES_XML,
    NORDIC,
    codes,
    content,
    invoice_rows,
    read,
    set_cell,
    write_rows,
)

EXPECTED = content(read(INVOICES_CSV).documents)


def invoices(result: object) -> list[Invoice]:
    return [d for d in result.documents if isinstance(d, Invoice)]  # type: ignore[attr-defined]


# ---- encoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_encodings_with_and_without_bom_read_the_same(encoding: str, tmp_path: Path) -> None:
    text = INVOICES_CSV.read_text("utf-8")
    if encoding == "utf-16-le-bom":
        data = b"\xff\xfe" + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    result = read(path)
    assert result.status == "ok" and result.issues == []
    assert content(result.documents) == EXPECTED


def test_cp1252_fallback_decodes_nordic_letters_and_warns(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(INVOICES_CSV.read_text("utf-8").encode("cp1252"))
    result = read(path)
    assert result.status == "ok" and codes(result) == {"encoding_fallback"}
    assert content(result.documents) == EXPECTED
    assert invoices(result)[3].vendor_name == "Åkesson & Söner AB"


def test_explicit_encoding_is_used(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(INVOICES_CSV.read_text("utf-8").encode("cp1252"))
    result = read(path, CANONICAL.with_(encoding="cp1252"))
    assert result.status == "ok" and result.issues == []  # no fallback warning: it was asked for
    assert content(result.documents) == EXPECTED


# ---- delimiter, line ends, headers ---------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_delimiter_is_detected_from_the_header(delimiter: str, newline: str, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "f.csv", invoice_rows(), delimiter=delimiter, newline=newline)
    result = read(path)
    assert result.status == "ok", result.issues
    assert content(result.documents) == EXPECTED


def test_explicit_delimiter_wins(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "f.csv", invoice_rows(), delimiter=";")
    assert read(path, CANONICAL.with_(delimiter=";")).status == "ok"
    assert codes(read(path, CANONICAL.with_(delimiter=","))) == {"delimiter_undetected"}


def test_header_matching_ignores_case_spaces_underscores_and_dashes(tmp_path: Path) -> None:
    rows = invoice_rows()
    styles: list[Callable[[str], str]] = [
        str.upper,
        str.lower,
        lambda s: "_".join(s),
        lambda s: f"  {s}  ",
        lambda s: s[:3] + "-" + s[3:],
    ]
    rows[0] = [styles[i % len(styles)](name) for i, name in enumerate(rows[0])]
    result = read(write_rows(tmp_path / "f.csv", rows))
    assert result.status == "ok" and result.issues == []
    assert content(result.documents) == EXPECTED


def test_profile_aliases_map_other_header_names(tmp_path: Path) -> None:
    rows = invoice_rows()
    rows[0][rows[0].index("totalAmount")] = "Fakturabeløp inkl. mva"
    path = write_rows(tmp_path / "f.csv", rows)
    assert codes(read(path)) >= {"missing_column", "unknown_column"}
    profile = CANONICAL.with_(header_aliases={"Fakturabeløp inkl. mva": "totalAmount"})
    assert content(read(path, profile).documents) == EXPECTED


def test_reordered_columns_read_the_same(tmp_path: Path) -> None:
    rows = invoice_rows()
    order = list(range(len(rows[0])))
    random.Random(7).shuffle(order)
    result = read(write_rows(tmp_path / "f.csv", [[r[i] for i in order] for r in rows]))
    assert content(result.documents) == EXPECTED


def test_unknown_columns_are_kept_and_custom_columns_split_header_and_line(tmp_path: Path) -> None:
    rows = invoice_rows()
    rows[0] += ["batchNo", "custom_BRANCH", "Custom_TASK"]
    for n, row in enumerate(rows[1:], start=2):
        row += [f"B{n}", "TRD", f"T{n}"]
    result = read(write_rows(tmp_path / "f.csv", rows))
    assert result.status == "ok" and codes(result) == {"unknown_column"}
    first = invoices(result)[0]
    assert first.custom == {"BRANCH": "TRD"}  # same on every row: an invoice-level field
    assert [line.custom for line in first.lines] == [{"TASK": "T2"}, {"TASK": "T3"}, {"TASK": "T4"}]
    assert [line.extra for line in first.lines] == [{"batchNo": "B2"}, {"batchNo": "B3"}, {"batchNo": "B4"}]


# ---- numbers ---------------------------------------------------------------------------------------


def test_decimal_comma_only_by_the_semicolon_rule_or_the_profile(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 9, "unitPrice", "132,00")
    assert codes(read(write_rows(tmp_path / "comma.csv", rows))) == {"invalid_amount"}  # ',' file: no
    assert read(write_rows(tmp_path / "semi.csv", rows, delimiter=";")).status == "ok"  # ';' file: yes
    assert (
        read(write_rows(tmp_path / "comma.csv", rows), CANONICAL.with_(decimal_sep=",")).status == "partial"
    )
    nordic = read(
        write_rows(tmp_path / "semi.csv", rows, delimiter=";"), NORDIC.with_(date_formats=("%Y-%m-%d",))
    )
    assert nordic.status == "partial"  # nordic says ',' explicitly, so "25734.00" elsewhere is refused
    assert codes(nordic) == {"invalid_amount"}


def test_semicolon_rule_does_not_turn_thousands_into_decimals(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 9, "unitPrice", "1.980,00")
    assert codes(read(write_rows(tmp_path / "f.csv", rows, delimiter=";"))) == {"invalid_amount"}


def test_thousands_separator_only_when_the_profile_enables_it(tmp_path: Path) -> None:
    rows = invoice_rows()
    for r in (2, 3, 4):
        set_cell(rows, r, "subtotalAmount", "25\u00a0734,00")
    path = write_rows(tmp_path / "f.csv", rows, delimiter=";")
    assert "invalid_amount" in codes(read(path))
    profile = CANONICAL.with_(decimal_sep=",", thousands_sep="\u00a0")
    result = read(path, profile)
    assert invoices(result)[0].subtotal_amount == Decimal("25734.00")


def test_amounts_keep_their_digits() -> None:
    inv = invoices(read(INVOICES_CSV))
    assert str(inv[0].exchange_rate) == "1.0000" and str(inv[0].lines[0].quantity) == "40"
    assert str(inv[2].lines[0].quantity) == "-1"


# ---- dates and timestamps -------------------------------------------------------------------------


def test_dates_use_the_profile_formats_and_never_guess(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 9, "invoiceDate", "03/01/2025")
    path = write_rows(tmp_path / "f.csv", rows)
    assert "invalid_date" in codes(read(path))
    us = read(path, BUILTIN_PROFILES["us"])
    assert invoices(us)[4].invoice_date == date(2025, 3, 1)  # MM/dd: 1 March
    set_cell(rows, 9, "invoiceDate", "01.03.2025")
    nordic = read(write_rows(tmp_path / "n.csv", rows), NORDIC.with_(decimal_sep=None))
    assert invoices(nordic)[4].invoice_date == date(2025, 3, 1)  # dd.MM: 1 March


def test_naive_timestamps_take_the_profile_time_zone(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 5, "approvedAt", "2025-03-07T09:05:12")  # winter: Oslo is +01:00
    for r in (7, 8):
        set_cell(rows, r, "approvedAt", "2025-04-02 08:00:00")  # summer: +02:00
    path = write_rows(tmp_path / "f.csv", rows)
    result = read(path)
    inv = invoices(result)
    assert inv[1].approved_at == datetime(2025, 3, 7, 9, 5, 12, tzinfo=timezone(timedelta(hours=1)))
    assert inv[3].approved_at == datetime(2025, 4, 2, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    naive = [i for i in result.issues if i.code == "naive_timestamp"]
    assert [(i.row, i.field) for i in naive] == [(5, "approvedAt"), (7, "approvedAt")]
    helsinki = invoices(read(path, CANONICAL.with_(timezone="Europe/Helsinki")))
    assert helsinki[1].approved_at == datetime(2025, 3, 7, 9, 5, 12, tzinfo=timezone(timedelta(hours=2)))


def test_empty_is_null_but_null_words_are_text(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 5, "poNumber", "NULL")
    inv = invoices(read(write_rows(tmp_path / "f.csv", rows)))
    assert inv[1].po_number == "NULL" and inv[0].po_number is None and inv[0].lines[0].cost_center is None


# ---- grouping ---------------------------------------------------------------------------------------


def test_rows_of_one_invoice_need_not_be_contiguous(tmp_path: Path) -> None:
    rows = invoice_rows()
    body = rows[1:]
    random.Random(3).shuffle(body)
    result = read(write_rows(tmp_path / "f.csv", [rows[0], *body]))
    assert result.status == "ok"
    by_key = {d["key"]: d for d in content(result.documents)}
    expected = {d["key"]: d for d in EXPECTED}
    assert by_key.keys() == expected.keys()
    for key, doc in by_key.items():
        doc_lines = sorted(doc["lines"], key=lambda line: line["lineNumber"])
        assert {**doc, "lines": doc_lines} == expected[key]


def test_spilled_groups_read_the_same_as_contiguous_ones(tmp_path: Path) -> None:
    """Force every group through the on-disk spill (as a hash collision would)."""
    plan = scan_csv(INVOICES_CSV, file="f", profile=CANONICAL, kind=None)
    plan.exact = None
    plan.buckets = bytearray(b"\x02" * len(plan.buckets))
    ctx = BuildContext("f", "f", "x", plan.rules, CANONICAL.approved_statuses, Decimal(0), 100)
    docs = [build_invoice(raw, ctx)[0] for raw, _ in iter_csv_documents(plan, 100)]
    assert content([d for d in docs if d is not None]) == EXPECTED


def test_bucket_mode_beyond_the_exact_key_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_connector.stampli.csv_reader as reader

    monkeypatch.setattr(reader, "EXACT_KEYS_MAX", 2)
    rows = invoice_rows()
    body = rows[1:]
    body.append(body.pop(0))  # invoice 41877203: rows 2-3 first, its line 1 at the very end
    plan = scan_csv(write_rows(tmp_path / "f.csv", [rows[0], *body]), file="f", profile=CANONICAL, kind=None)
    assert plan.exact is None and plan.buckets.count(2) >= 1
    docs = {d["key"]: d for d in content(read(tmp_path / "f.csv").documents)}
    assert docs.keys() == {d["key"] for d in EXPECTED}
    assert sorted(line["lineNumber"] for line in docs["INV:41877203"]["lines"]) == [1, 2, 3]
    assert docs["INV:41877203"]["totalAmount"] == "31748.10"


def test_fallback_key_groups_invoices_without_a_stampli_id(tmp_path: Path) -> None:
    rows = invoice_rows()
    for r in range(2, 10):
        set_cell(rows, r, "stampliInvoiceId", "")
    result = read(write_rows(tmp_path / "f.csv", rows))
    assert result.status == "ok"
    assert [d.key for d in invoices(result)][:2] == [
        "INVX:C100234:10023:2025-1187:INVOICE",
        "INVX:C100234:10057:88412:INVOICE",
    ]
    assert [len(d.lines) for d in invoices(result)] == [3, 1, 1, 2, 1]


# ---- streaming contract ------------------------------------------------------------------------------


def test_a_csv_broken_late_is_rejected_by_the_stream_and_as_a_whole(tmp_path: Path) -> None:
    """CSV is read in one checking pass (issue 18): a record broken after good ones makes the stream
    raise ``FileRejected`` when it gets there, after the documents before it (the intake uses none
    of them: a file's documents wait until it is read whole, see pipeline/intake.py)."""
    data = INVOICES_CSV.read_bytes()
    path = tmp_path / "t.csv"
    path.write_bytes(data + b'C100234,99,"unterminated')
    stream = iter_export(path, profile=CANONICAL)
    read_before: list[object] = []
    with pytest.raises(FileRejected) as info:
        read_before.extend(stream)
    assert [i.code for i in info.value.issues] == ["unterminated_quote"]
    assert len(read_before) < len(read(INVOICES_CSV).documents)
    whole = read(path)
    assert whole.status == "rejected" and whole.documents == []
    assert [i.code for i in whole.issues if i.level == "error"] == ["unterminated_quote"]


def test_iter_export_is_lazy_and_carries_provenance(tmp_path: Path) -> None:
    stream = iter_export(
        INVOICES_XML, remote_path="/outbound/invoices/x.xml", profile=CANONICAL, sha256="ab" * 32
    )
    assert stream.kind == "invoices" and stream.format == "xml"
    first = next(stream)
    assert isinstance(first, Invoice)
    assert first.provenance.remote_path == "/outbound/invoices/x.xml" and first.provenance.sha256 == "ab" * 32
    assert first.provenance.xpath == "/StampliInvoiceExport/Invoice[1]"
    rest = list(stream)
    assert len(rest) == 4 and not any(isinstance(r, RejectedRecord) for r in rest)


def test_sha256_is_computed_when_not_given() -> None:
    import hashlib

    result = read(INVOICES_CSV)
    assert result.sha256 == hashlib.sha256(INVOICES_CSV.read_bytes()).hexdigest()
    assert invoices(result)[0].provenance.sha256 == result.sha256


def test_tolerance_allows_small_differences(tmp_path: Path) -> None:
    rows = invoice_rows()
    set_cell(rows, 5, "totalAmount", "9312.51")
    path = write_rows(tmp_path / "f.csv", rows)
    assert codes(read(path)) == {"total_mismatch"}
    assert read(path, CANONICAL.with_(amount_tolerance=Decimal("0.01"))).status == "ok"


def test_xml_approvers_follow_sequence_and_empty_elements_are_null(tmp_path: Path) -> None:
    text = INVOICES_XML.read_text("utf-8").replace(
        '<Approver sequence="1" email="siri.haugen@fjordvarme.no"/>\n'
        '      <Approver sequence="2" email="ingrid.solberg@fjordvarme.no"/>',
        '<Approver sequence="2" email="ingrid.solberg@fjordvarme.no"/>\n'
        '      <Approver sequence="1" email="siri.haugen@fjordvarme.no"/>',
    )
    path = tmp_path / "a.xml"
    path.write_text(text, "utf-8")
    first = invoices(read(path))[0]
    assert first.approvers == ("siri.haugen@fjordvarme.no", "ingrid.solberg@fjordvarme.no")
    assert first.po_number is None and first.original_invoice_number is None
