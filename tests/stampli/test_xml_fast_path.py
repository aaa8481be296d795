"""The XML reader's fast path (xml_canonical) reads exactly what the expat path reads.

Each case edits the sample invoices XML, reads it once as shipped and once with the fast path
switched off, and compares everything: documents, rejected records (raw XML, parsed view, issues,
provenance), file issues and status. ``fast`` says whether the case must take the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ml_connector.stampli import xml_canonical, xml_reader
from ml_connector.stampli.read import ReadResult, read_export
from tests.stampli.util import CANONICAL, INVOICES_XML

SAMPLE = INVOICES_XML.read_text(encoding="utf-8")


def _first(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def _every(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return edit


CASES: dict[str, tuple[Callable[[str], str], bool]] = {
    "as shipped": (lambda t: t, True),
    "entities in text and attributes": (
        _every("Nordlys Kontorrekvisita AS", "Nordlys &amp; S&#248;nner &lt;AS&gt; &quot;x&apos;"),
        False,  # a character reference: expat
    ),
    "predefined entities": (
        _every("Nordlys Kontorrekvisita AS", "Nordlys &amp; &lt;AS&gt; &quot;x&apos;"),
        True,
    ),
    "entity in an approver e-mail": (_first('email="siri', 'email="&amp;siri'), True),
    "approvers out of sequence": (_first('sequence="1"', 'sequence="9"'), True),
    "approver without sequence": (_first('sequence="1"', 'sequence=""'), True),
    "approver sequence not a number": (_first('sequence="1"', 'sequence="x"'), False),
    "empty approver e-mail": (_first('email="siri.haugen@fjordvarme.no"', 'email=""'), True),
    "total that does not add up": (_first("<Total>31748.10</Total>", "<Total>31748.11</Total>"), True),
    "not approved": (_first('status="APPROVED"', 'status="PENDING"'), True),
    "empty element forms": (
        lambda t: t.replace("<StampliLink/>", "<StampliLink></StampliLink>").replace(
            "<PONumber/>", "<PONumber />"
        ),
        True,
    ),
    "blank document type": (
        _first("<DocumentType>INVOICE</DocumentType>", "<DocumentType></DocumentType>"),
        True,
    ),
    "white space inside tags": (
        lambda t: t.replace('<Line number="1" type="GL">', '<Line  number = "1"\n type="GL" >').replace(
            "</Lines>", "</Lines >"
        ),
        True,
    ),
    "values with blanks around them": (
        _first("<Currency>NOK</Currency>", "<Currency> NOK </Currency>"),
        True,
    ),
    "blank line number": (_first('<Line number="1"', '<Line number=""'), True),
    "line number twice": (_first('<Line number="2"', '<Line number="1"'), True),
    "duplicate invoice id": (
        lambda t: t.replace(
            t.split("<StampliInvoiceId>")[2].split("<")[0], t.split("<StampliInvoiceId>")[1].split("<")[0], 1
        ),
        True,
    ),
    "control character": (_first("Nordlys", "Nord\x7flys"), True),
    "non-ASCII id": (_first("<InvoiceNumber>", "<InvoiceNumber>Å"), True),
    "carriage returns": (lambda t: t.replace("\n", "\r\n"), False),
    "a comment": (_first("<Lines>", "<Lines><!-- x -->"), False),
    "CDATA": (_first("<Currency>NOK</Currency>", "<Currency><![CDATA[NOK]]></Currency>"), False),
    "unknown element": (_first("<Lines>", "<Extra>1</Extra><Lines>"), False),
    "element twice": (
        _first("<Currency>NOK</Currency>", "<Currency>NOK</Currency><Currency>SEK</Currency>"),
        False,
    ),
    "elements out of order": (
        _first(
            "<Currency>NOK</Currency>\n    <ExchangeRate>1.0000</ExchangeRate>",
            "<ExchangeRate>1.0000</ExchangeRate>\n    <Currency>NOK</Currency>",
        ),
        False,
    ),
    "mixed content": (_first("<Total>31748.10</Total>", "<Total>31748.10<B/>0</Total>"), False),
    "missing elements": (
        lambda t: t.replace("<PONumber/>", "").replace("<Dimensions>", "<Dimensions>\n", 1),
        True,
    ),
    "no XML declaration": (lambda t: t.split("\n", 1)[1], True),
    "count that does not match": (_first('invoiceCount="5"', 'invoiceCount="6"'), False),
    "another company, none configured": (_first('companyId="C100234"', 'companyId="C999"'), True),
    "no root end tag": (lambda t: t.replace("</StampliInvoiceExport>", ""), False),
    "trailing text": (lambda t: t + "x", False),
    "byte order mark": (lambda t: "\ufeff" + t, False),
    "document file": (
        _first("-kontoret</Description>\n", "-kontoret</Description><DocumentFile>a.pdf</DocumentFile>\n"),
        True,
    ),
    "document file outside images/": (
        _first("-kontoret</Description>\n", "-kontoret</Description><DocumentFile>../a.pdf</DocumentFile>"),
        True,
    ),
    "document file before the description": (
        _first("<PONumber/>", "<PONumber/><DocumentFile>a.pdf</DocumentFile>"),
        False,
    ),
}


def _read(path: Path, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> ReadResult:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(xml_reader, "_scan_canonical", lambda *a, **k: None)
        return read_export(path, profile=CANONICAL)


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_reads_what_expat_reads(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit, takes_fast_path = CASES[name]
    path = tmp_path / INVOICES_XML.name
    path.write_bytes(edit(SAMPLE).encode("utf-8"))
    assert (xml_reader._scan_canonical(path, str(path), CANONICAL, None) is not None) == takes_fast_path
    fast = _read(path, fast=True, monkeypatch=monkeypatch)
    slow = _read(path, fast=False, monkeypatch=monkeypatch)
    assert fast.status == slow.status
    assert fast.documents == slow.documents
    assert [(r.key, r.kind, r.raw, r.parsed, r.issues, r.provenance) for r in fast.rejected] == [
        (r.key, r.kind, r.raw, r.parsed, r.issues, r.provenance) for r in slow.rejected
    ]
    assert fast.issues == slow.issues
    assert (fast.kind, fast.format, fast.sha256) == (slow.kind, slow.format, slow.sha256)


def test_fast_path_cases_reject_and_accept_documents() -> None:
    # The comparison above means something only if the cases exercise both outcomes.
    assert any(not fast for _, fast in CASES.values()) and any(fast for _, fast in CASES.values())


@pytest.mark.parametrize(
    "limits",
    [
        {"max_field_chars": 30},
        {"max_rows": 8},
        {"max_xml_depth": 5},
    ],
)
def test_limits_are_reported_as_expat_reports_them(
    limits: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = replace(CANONICAL, limits=replace(CANONICAL.limits, **limits))
    path = tmp_path / INVOICES_XML.name
    path.write_bytes(SAMPLE.encode("utf-8"))
    fast = read_export(path, profile=profile)
    with monkeypatch.context() as m:
        m.setattr(xml_reader, "_scan_canonical", lambda *a, **k: None)
        slow = read_export(path, profile=profile)
    assert fast.status == slow.status == "rejected"
    assert fast.issues == slow.issues


def test_a_document_of_another_company_is_rejected_as_before(tmp_path: Path) -> None:
    profile = replace(CANONICAL, company_id="C999")
    path = tmp_path / INVOICES_XML.name
    path.write_bytes(SAMPLE.encode("utf-8"))
    assert xml_reader._scan_canonical(path, str(path), profile, None) is None
    result = read_export(path, profile=profile)
    assert result.status == "rejected" and [i.code for i in result.issues] == ["company_mismatch"]


@pytest.mark.parametrize("where", ["text", "attribute"])
def test_a_long_value_with_angle_brackets_is_still_too_large(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # '>' may stand in text and attribute values; the long-value check must not stop at it.
    long = ("x" * 40 + ">") * 8
    if where == "text":
        text = SAMPLE.replace("<PONumber/>", f"<PONumber>{long}</PONumber>", 1)
    else:
        text = SAMPLE.replace('email="siri.haugen@fjordvarme.no"', f'email="{long}"', 1)
    profile = replace(CANONICAL, limits=replace(CANONICAL.limits, max_field_chars=300))
    path = tmp_path / INVOICES_XML.name
    path.write_bytes(text.encode("utf-8"))
    assert xml_reader._scan_canonical(path, str(path), profile, None) is None
    fast = read_export(path, profile=profile)
    with monkeypatch.context() as m:
        m.setattr(xml_reader, "_scan_canonical", lambda *a, **k: None)
        slow = read_export(path, profile=profile)
    assert fast.status == slow.status == "rejected"
    assert [i.code for i in fast.issues] == ["field_too_large"]
    assert fast.issues == slow.issues


@pytest.mark.parametrize(
    ("chunk", "max_doc", "fast"), [(64, 1 << 20, True), (7, 1 << 20, True), (64, 500, False)]
)
def test_small_reads_give_the_same_documents(
    chunk: int, max_doc: int, fast: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Documents that straddle the reads; one larger than the buffer may hold goes through expat.
    path = tmp_path / INVOICES_XML.name
    path.write_bytes(SAMPLE.encode("utf-8"))
    reference = read_export(path, profile=CANONICAL)
    monkeypatch.setattr(xml_canonical, "_CHUNK", chunk)
    monkeypatch.setattr(xml_canonical, "_MAX_DOC_CHARS", max_doc)
    assert (xml_reader._scan_canonical(path, str(path), CANONICAL, None) is not None) == fast
    result = read_export(path, profile=CANONICAL)
    assert result.status == reference.status == "ok"
    assert result.documents == reference.documents and len(result.documents) == 5
