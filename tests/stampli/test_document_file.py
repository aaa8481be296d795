"""The invoice image's file name: the optional ``documentFile`` column (CSV) and ``<DocumentFile>``
element (XML), and the names refused because they could reach outside the ``images/`` folder."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ml_connector.domain.documents import Invoice, content_hash
from ml_connector.domain.images import expected_image_name, image_name_problem, images_folder
from ml_connector.stampli.write import write_invoices_csv, write_invoices_xml
from tests.stampli.util import INVOICES_CSV, invoice_rows, read, write_rows

BAD_NAMES = [
    "../x.pdf",
    "/etc/passwd",
    "a/b.pdf",
    "..\\x.pdf",
    "C:x.pdf",
    "..",
    "a\x07.pdf",
    'a"b.pdf',
    "x" * 256,
]


def _with_column(tmp_path: Path, value: str, record: int = 2) -> Path:
    """The column on every row of the invoice at physical ``record`` (header cells repeat per line)."""
    rows = invoice_rows()
    at = rows[0].index("stampliInvoiceId")
    invoice_id = rows[record - 1][at]
    rows[0].append("documentFile")
    for row in rows[1:]:
        row.append(value if row[at] == invoice_id else "")
    return write_rows(tmp_path / "invoices.csv", rows)


def test_csv_document_file_is_read_and_absent_elsewhere(tmp_path: Path) -> None:
    result = read(_with_column(tmp_path, "INV-9001 scan.pdf"))
    assert result.status == "ok", result.issues
    docs = [d for d in result.documents if isinstance(d, Invoice)]
    assert docs[0].document_file == "INV-9001 scan.pdf"
    assert all(d.document_file is None for d in docs[1:])


def test_document_file_is_not_content(tmp_path: Path) -> None:
    """Documents read before the column existed keep their content hash (no false 'changed')."""
    plain = read(INVOICES_CSV).documents[0]
    named = read(_with_column(tmp_path, "a.pdf")).documents[0]
    assert isinstance(named, Invoice) and named.document_file == "a.pdf"
    assert content_hash(plain) == content_hash(named)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_csv_bad_document_file_is_refused_with_file_row_and_field(tmp_path: Path, bad: str) -> None:
    path = _with_column(tmp_path, bad)
    result = read(path)
    refused = [i for i in result.issues if i.field == "documentFile"]
    assert refused, result.issues
    assert refused[0].code == "invalid_value" and refused[0].row == 2
    assert refused[0].file == str(path)
    assert len(result.rejected) == 1  # the record, not the file
    assert all(d.document_file is None for d in result.documents if isinstance(d, Invoice))


@pytest.mark.parametrize("fast", [True, False])
def test_xml_document_file_round_trips(tmp_path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_connector.stampli import xml_reader

    if not fast:
        monkeypatch.setattr(xml_reader, "_scan_canonical", lambda *a, **k: None)
    docs = [d for d in read(INVOICES_CSV).documents if isinstance(d, Invoice)]
    named = [dataclasses.replace(docs[0], document_file="scan 1.pdf"), *docs[1:]]
    path = tmp_path / "invoices.xml"
    write_invoices_xml(
        named, path, company_id=docs[0].stampli_company_id, export_id="E1", generated_at=datetime.now(UTC)
    )
    result = read(path)
    assert result.status == "ok", result.issues
    got = [d for d in result.documents if isinstance(d, Invoice)]
    assert [d.document_file for d in got] == ["scan 1.pdf"] + [None] * (len(docs) - 1)


def test_xml_bad_document_file_names_the_xpath(tmp_path: Path) -> None:
    docs = [d for d in read(INVOICES_CSV).documents if isinstance(d, Invoice)]
    path = tmp_path / "invoices.xml"
    write_invoices_xml(
        [dataclasses.replace(docs[0], document_file="../../etc/x.pdf")],
        path,
        company_id=docs[0].stampli_company_id,
        export_id="E1",
        generated_at=datetime.now(UTC),
    )
    result = read(path)
    refused = [i for i in result.issues if i.field == "documentFile"]
    assert refused and refused[0].xpath and "Invoice[1]" in refused[0].xpath
    assert not result.documents


def test_csv_writer_writes_the_column_only_when_an_invoice_has_an_image(tmp_path: Path) -> None:
    docs = [d for d in read(INVOICES_CSV).documents if isinstance(d, Invoice)]
    write_invoices_csv(docs, tmp_path / "a.csv")
    assert "documentFile" not in (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()[0]
    write_invoices_csv([dataclasses.replace(docs[0], document_file="a.pdf"), *docs[1:]], tmp_path / "b.csv")
    again = [d for d in read(tmp_path / "b.csv").documents if isinstance(d, Invoice)]
    assert again[0].document_file == "a.pdf"


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_image_name_problem_refuses_paths(bad: str) -> None:
    assert image_name_problem(bad) is not None


def test_image_names() -> None:
    assert image_name_problem("INV 2025-03 (1).pdf") is None
    assert expected_image_name("scan.pdf", "SI-1") == "scan.pdf"
    assert expected_image_name(None, "SI-1") == "SI-1.pdf"
    assert expected_image_name(None, "a/b") is None  # an id that could not be a file name: no image
    assert expected_image_name(None, None) is None
    assert images_folder("/outbound/invoices/x.csv") == "/outbound/invoices/images"
