"""The real Ledger is the pipeline's LedgerPort (every small port it is composed of), and its reads
hand out domain records: StoredDocument, StoredFile, StoredFailure, AuditEntry, StoredBankChange,
Identity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.domain.files import RemoteFile
from ml_connector.domain.identity import Identity
from ml_connector.domain.stored import AuditEntry, StoredBankChange, StoredDocument, StoredFailure, StoredFile
from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.ledger.vendor_store import BankChange
from ml_connector.pipeline.ports import (
    AuditPort,
    AwaitedDocumentsPort,
    DocumentsPort,
    FailuresPort,
    FilesPort,
    IdentityPort,
    LedgerPort,
    MasterDataCachePort,
    RunsPort,
    VendorDriftPort,
)
from tests.ledger.test_store import _doc


def as_port(ledger: Ledger) -> LedgerPort:
    return ledger  # mypy (strict) checks here that Ledger satisfies the port structurally


def the_parts(
    ledger: Ledger,
) -> tuple[
    MasterDataCachePort,
    DocumentsPort,
    FilesPort,
    FailuresPort,
    RunsPort,
    AuditPort,
    IdentityPort,
    AwaitedDocumentsPort,
    VendorDriftPort,
]:
    # and here that it satisfies each small port on its own (a test fake may implement just one)
    return ledger, ledger, ledger, ledger, ledger, ledger, ledger, ledger.aio, ledger.vendors


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


def _file(port: LedgerPort, sha: str = "ab" * 32) -> int:
    file_id, new = port.record_file(
        connection="acme",
        kind="invoices",
        remote_path="/out/invoices/a.csv",
        size=120,
        mtime=datetime(2025, 3, 31, 7, 15, tzinfo=UTC),
        sha256=sha,
        archive_path="/archive/a.csv",
        actor="test",
    )
    assert new
    return file_id


def test_file_reads_return_stored_files(ledger: Ledger) -> None:
    port = as_port(ledger)
    file_id = _file(port)
    assert port.record_file(
        connection="acme",
        kind="invoices",
        remote_path="/out/invoices/renamed.csv",
        size=120,
        mtime=None,
        sha256="ab" * 32,
        archive_path=None,
        actor="test",
    ) == (file_id, False)  # the same content under another name is not taken in again
    row = port.file_by_hash("acme", "ab" * 32)
    assert isinstance(row, StoredFile)
    assert (row.id, row.kind, row.remote_path, row.size, row.status) == (
        file_id,
        "invoices",
        "/out/invoices/a.csv",
        120,
        "downloaded",
    )
    assert row.mtime == datetime(2025, 3, 31, 7, 15, tzinfo=UTC) and row.archive_path == "/archive/a.csv"
    assert row.first_seen is not None and row.first_seen.tzinfo is not None and row.processed_at is None
    assert port.file_by_hash("acme", "cd" * 32) is None
    assert port.files_with_status("acme", ["downloaded"]) == [row]
    port.finish_file(file_id, status="rejected", count=2, issues=[{"code": "bad"}], actor="test")
    done = port.file_by_hash("acme", "ab" * 32)
    assert done is not None and (done.status, done.documents, done.issues) == (
        "rejected",
        2,
        [{"code": "bad"}],
    )
    assert done.processed_at is not None
    assert done.as_dict()["remote_path"] == "/out/invoices/a.csv"
    listed = RemoteFile("/out/invoices/a.csv", 120, datetime(2025, 3, 31, 7, 15, tzinfo=UTC))
    other = RemoteFile("/out/invoices/b.csv", 99, datetime(2025, 3, 31, 8, 0, tzinfo=UTC))
    assert port.not_taken_in("acme", [listed, other]) == {other: None}
    assert port.not_taken_in("acme", [listed], recheck={"rejected"}) == {listed: "rejected"}


def test_failure_reads_return_stored_failures_and_files_are_set_aside(ledger: Ledger) -> None:
    port = as_port(ledger)
    file_id = _file(port)
    port.finish_file(file_id, status="rejected", count=0, issues=[], actor="test")
    fid = port.record_failure(
        connection="acme",
        actor="test",
        category="source_data",
        code="file_rejected",
        reason="r",
        file_id=file_id,
    )
    [failure] = port.open_failures("acme")
    assert isinstance(failure, StoredFailure)
    assert (failure.id, failure.file_id, failure.document_id, failure.code, failure.status) == (
        fid,
        file_id,
        None,
        "file_rejected",
        "open",
    )
    assert failure.created_at is not None and failure.created_at.tzinfo is not None
    assert ledger.failure(fid) == failure
    assert failure.as_dict()["category"] == "source_data"
    assert not port.set_file_aside(file_id, from_statuses=["too_large"], actor="olga", reason="no")
    assert port.set_file_aside(file_id, from_statuses=["rejected"], actor="olga", reason="by hand")
    assert port.open_failures("acme") == []
    [row] = port.files_with_status("acme", ["set_aside"])
    assert row.id == file_id
    closed = ledger.failure(fid)
    assert closed is not None and (closed.status, closed.resolved_by) == ("resolved", "olga")


def test_audit_reads_return_audit_entries_and_runs_are_recorded(ledger: Ledger) -> None:
    port = as_port(ledger)
    doc_id = _doc(ledger, "INV:9")
    assert port.transition(doc_id, "found_in_visma", DocStatus.POSTED, actor="t", batch_number="7")
    assert port.keys_with_action("acme", "found_in_visma") == {"INV:9"}
    assert port.keys_with_action("acme", "posted") == set()
    port.record_event(
        connection="acme",
        entity="connection",
        key="acme",
        action="sftp_host_key_mismatch",
        actor="system",
        reason="the server presented another key",
        details={"endpoint": "sftp.example:22"},
    )
    [entry] = port.audit_trail("connection", "acme")
    assert isinstance(entry, AuditEntry)
    assert (entry.connection, entry.entity, entry.entity_key, entry.action, entry.actor) == (
        "acme",
        "connection",
        "acme",
        "sftp_host_key_mismatch",
        "system",
    )
    assert entry.details == {"endpoint": "sftp.example:22"} and entry.at.tzinfo is not None
    assert [e.action for e in port.audit_trail("document", "INV:9")] == ["received", "found_in_visma"]
    run_id = port.start_run("acme")
    port.finish_run(run_id, status="ok", stats={"posted": 1})
    [run] = ledger.last_runs("acme")
    assert (run["id"], run["status"], run["stats"]) == (run_id, "ok", {"posted": 1})


def test_identity_is_recorded_once_through_the_port(ledger: Ledger) -> None:
    port = as_port(ledger)
    assert port.identities() == {}
    first = Identity("C1", "t1", "1")
    assert port.record_identity("acme", first, actor="test") == first
    # A racing process that records second gets the identity that stands.
    assert port.record_identity("acme", Identity("C2", "t1", "1"), actor="test") == first
    assert port.identities() == {"acme": first}
    assert ledger.accept_identity("acme", Identity("C2", "t1", "1"), actor="cli:test") == first
    assert port.identities() == {"acme": Identity("C2", "t1", "1")}


def test_bank_changes_reach_the_pipeline_as_stored_bank_changes(ledger: Ledger) -> None:
    port = as_port(ledger)
    changed = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)
    ledger.vendors.record_bank_change(
        "acme",
        BankChange("10057", changed, {"iban": "****7947"}, {"iban": "****4567"}, "hash2"),
        actor="test",
    )
    [change] = port.vendors.bank_changes_since("acme", "10057", changed - timedelta(days=1))
    assert isinstance(change, StoredBankChange)
    assert (change.vendor_id, change.changed_at, change.old, change.new) == (
        "10057",
        changed,
        {"iban": "****7947"},
        {"iban": "****4567"},
    )
    assert change.detected_at.tzinfo is not None
    assert port.vendors.bank_changes_since("acme", "10057", changed) == []
    assert port.vendors.bank_changes_since("acme", "20011", changed - timedelta(days=1)) == []
    assert not port.vendors.confirmed_after(1, changed)


def test_a_files_reading_documents_are_released_through_the_port(ledger: Ledger) -> None:
    port = as_port(ledger)
    file_id = _file(port)
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
