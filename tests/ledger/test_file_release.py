"""A file's documents released in bulk (``release_file``) or skipped with it when it is set aside,
on SQLite and PostgreSQL: one event for every ``reading`` document of that file and connection,
each with its audit row, and nothing else touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.pipeline.ports import LedgerPort


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def _file(ledger: Ledger, name: str, connection: str = "acme") -> int:
    file_id, new = ledger.record_file(
        connection=connection,
        kind="invoices",
        remote_path=f"/out/{name}",
        size=1,
        mtime=None,
        sha256=name.ljust(64, "0"),
        archive_path=None,
        actor="test",
    )
    assert new
    return file_id


def _doc(ledger: Ledger, key: str, file_id: int, status: str, connection: str = "acme") -> int:
    doc_id = ledger.insert_document(
        {
            "connection": connection,
            "doc_key": key,
            "kind": "invoice",
            "content_hash": "h",
            "reference": "ST-" + key,
            "source": {"stampliInvoiceId": key},
            "file_id": file_id,
        },
        status=status,
        actor="test",
        reason="read",
    )
    assert doc_id is not None
    return doc_id


def test_release_moves_only_the_files_reading_documents_with_their_audit(ledger: Ledger) -> None:
    port: LedgerPort = ledger
    a, b = _file(ledger, "a"), _file(ledger, "b")
    other = _file(ledger, "c", connection="other")
    for n in range(3):
        _doc(ledger, f"A{n}", a, DocStatus.READING)
    _doc(ledger, "A-skipped", a, DocStatus.SKIPPED)
    _doc(ledger, "B0", b, DocStatus.READING)
    _doc(ledger, "C0", other, DocStatus.READING, connection="other")

    issues = [{"level": "warning", "code": "w", "message": "m"}]
    assert port.release_file(a, status="processed", count=4, issues=issues, actor="worker:1") == 3
    status = {d.doc_key: d.status for d in ledger.all_documents()}
    assert status == {
        "A0": "pending",
        "A1": "pending",
        "A2": "pending",
        "A-skipped": "skipped",
        "B0": "reading",
        "C0": "reading",
    }
    for key in ("A0", "A1", "A2"):
        trail = ledger.audit_trail("document", key)
        assert [(r.action, r.from_status, r.to_status, r.actor) for r in trail] == [
            ("received", None, "reading", "test"),
            ("file_read", "reading", "pending", "worker:1"),
        ]
        assert trail[1].connection == "acme" and trail[1].reason == "its file was read to its end"
        assert trail[1].at is not None
    assert [r.action for r in ledger.audit_trail("document", "B0")] == ["received"]
    (row,) = [r for r in ledger.files_with_status("acme", ["processed"])]
    assert (row.id, row.documents, row.issues) == (a, 4, issues)
    # released again (a replay of a file read whole): nothing left to move, the outcome recorded again
    assert ledger.release_file(a, status="processed", count=4, issues=[], actor="test") == 0


def test_setting_a_broken_file_aside_skips_its_reading_documents(ledger: Ledger) -> None:
    a, b = _file(ledger, "a"), _file(ledger, "b")
    _doc(ledger, "A0", a, DocStatus.READING)
    _doc(ledger, "A1", a, DocStatus.PENDING)  # released earlier, e.g. read again by another file
    _doc(ledger, "B0", b, DocStatus.READING)
    ledger.finish_file(a, status="rejected", count=2, issues=[], actor="test")
    assert ledger.set_file_aside(a, from_statuses=["rejected"], actor="ops", reason="set aside by ops")
    status = {d.doc_key: d.status for d in ledger.all_documents("acme")}
    assert status == {"A0": "skipped", "A1": "pending", "B0": "reading"}
    last = ledger.audit_trail("document", "A0")[-1]
    assert (last.action, last.from_status, last.to_status, last.reason) == (
        "set_aside",
        "reading",
        "skipped",
        "set aside by ops",
    )
    # refused (not rejected any more): nothing moves
    assert not ledger.set_file_aside(b, from_statuses=["rejected"], actor="ops", reason="r")
    assert ledger.document("acme", "B0") is not None
    b0 = ledger.document("acme", "B0")
    assert b0 is not None and b0.status == DocStatus.READING
