"""The real Ledger is the pipeline's LedgerPort, and its document reads hand out StoredDocument."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.pipeline.ports import LedgerPort
from tests.ledger.test_store import _doc


def as_port(ledger: Ledger) -> LedgerPort:
    return ledger  # mypy (strict) checks here that Ledger satisfies the port structurally


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def test_document_reads_return_stored_documents(ledger: Ledger) -> None:
    doc_id = _doc(ledger, "INV:7")
    port = as_port(ledger)
    by_key = port.document("acme", "INV:7")
    assert isinstance(by_key, StoredDocument)
    assert (by_key.id, by_key.kind, by_key.status, by_key.reference) == (doc_id, "invoice", "pending", "ST-1")
    assert (by_key.amount, by_key.attempts, by_key.batch_number) == ("31748.10", 0, None)
    assert by_key.source == {"stampliInvoiceId": "1", "totalAmount": "31748.10"}
    assert by_key.created_at is not None and by_key.created_at.tzinfo is not None
    assert port.document_by_id(doc_id) == by_key
    assert port.documents_with_status("acme", [DocStatus.PENDING]) == [by_key]
    assert port.documents_with_status("acme", [DocStatus.POSTED]) == []
    assert port.all_documents("acme") == [by_key]
    assert port.document("acme", "INV:8") is None
    assert by_key.as_dict()["doc_key"] == "INV:7"


def test_a_row_without_optional_columns_still_converts() -> None:
    row = {"kind": "payment", "source": {"paymentNumber": "P1"}, "doc_key": "PAY:1", "id": 3}
    doc = StoredDocument.of(row)
    assert (doc.kind, doc.doc_key, doc.id, doc.status, doc.voucher) == ("payment", "PAY:1", 3, "", None)


def test_a_files_reading_documents_are_released_through_the_port(ledger: Ledger) -> None:
    port = as_port(ledger)
    file_id, _ = ledger.record_file(
        connection="acme",
        kind="invoices",
        remote_path="/out/a.csv",
        size=1,
        mtime=None,
        sha256="a" * 64,
        archive_path=None,
        actor="test",
    )
    values = {"connection": "acme", "kind": "invoice", "content_hash": "h", "source": {}, "file_id": file_id}
    for key in ("INV:1", "INV:2"):
        assert port.insert_document(
            {**values, "doc_key": key, "reference": "ST-" + key},
            status=DocStatus.READING,
            actor="test",
            reason="read",
        )
    assert port.reading_count("acme", file_id) == 2 and port.reading_count("other", file_id) == 0
    assert port.release_file(file_id, status="processed", count=2, issues=[], actor="test") == 2
    assert port.reading_count("acme", file_id) == 0
    assert [d.status for d in port.all_documents("acme")] == [DocStatus.PENDING, DocStatus.PENDING]
