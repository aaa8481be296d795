"""The ledger on SQLite and PostgreSQL: migrations, compare-and-set transitions, audit, failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ml_connector.ledger.store import DocStatus, Ledger, claim_is_dead


def _doc(ledger: Ledger, key: str = "INV:1") -> int:
    doc_id = ledger.insert_document(
        {
            "connection": "acme",
            "doc_key": key,
            "kind": "invoice",
            "content_hash": "h1",
            "reference": "ST-1",
            "source": {"stampliInvoiceId": "1", "totalAmount": "31748.10"},
            "amount": "31748.10",
        },
        status=DocStatus.PENDING,
        actor="test",
        reason="read from file",
    )
    assert doc_id is not None
    return doc_id


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def test_migrations_are_idempotent_and_create_every_table(ledger: Ledger) -> None:
    ledger.upgrade()  # a second upgrade is a no-op
    names = set(sa.inspect(ledger.engine).get_table_names())
    assert {
        "files",
        "documents",
        "failures",
        "audit",
        "master_data",
        "sync_state",
        "runs",
        "alembic_version",
    } <= names


def test_insert_same_key_twice_keeps_one(ledger: Ledger) -> None:
    first = _doc(ledger)
    again = ledger.insert_document(
        {
            "connection": "acme",
            "doc_key": "INV:1",
            "kind": "invoice",
            "content_hash": "h2",
            "reference": "ST-1",
            "source": {},
        },
        status=DocStatus.PENDING,
        actor="test",
        reason="again",
    )
    assert again is None
    assert ledger.document("acme", "INV:1").id == first  # type: ignore[union-attr]
    assert ledger.document("acme", "INV:1").content_hash == "h1"  # type: ignore[union-attr]


def test_claim_is_compare_and_set_and_audited(ledger: Ledger) -> None:
    doc_id = _doc(ledger)
    assert ledger.claim(doc_id, voucher={"v": "1"}, period="202503", lease=timedelta(minutes=5))
    assert not ledger.claim(doc_id, voucher={"v": "1"}, period="202503", lease=timedelta(minutes=5))
    row = ledger.document_by_id(doc_id)
    assert row.status == DocStatus.POSTING
    assert row.attempts == 1
    assert row.voucher == {"v": "1"}
    assert row.claim_expires is not None and row.claim_expires.tzinfo is not None
    trail = ledger.audit_trail("document", "INV:1")
    assert [(a.action, a.from_status, a.to_status) for a in trail] == [
        ("received", None, "pending"),
        ("claimed", "pending", "posting"),
    ]
    assert all(a.at.tzinfo is not None for a in trail)


def test_concurrent_claims_only_one_wins(ledger: Ledger) -> None:
    doc_id = _doc(ledger)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(ledger.claim(doc_id, voucher={}, period="202503", lease=timedelta(minutes=5)))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    claimed = [a for a in ledger.audit_trail("document", "INV:1") if a.action == "claimed"]
    assert len(claimed) == 1


def test_park_opens_one_failure_with_the_source_and_replay_resolves_it(ledger: Ledger) -> None:
    doc_id = _doc(ledger)
    assert ledger.park(
        doc_id,
        "unpostable",
        category="visma_master_data",
        code="segment_value_missing",
        reason="cost center 0450 does not exist in Visma company 1234567; create it in Visma",
        actor="test",
        missing=[{"kind": "segment_value", "key": "1:0450"}],
    )
    open_ = ledger.open_failures("acme")
    assert len(open_) == 1
    assert open_[0].source == {"stampliInvoiceId": "1", "totalAmount": "31748.10"}
    assert open_[0].missing == [{"kind": "segment_value", "key": "1:0450"}]
    # parking again supersedes the old failure instead of piling up
    assert ledger.transition(doc_id, "replayed", DocStatus.PENDING, actor="t")
    assert ledger.park(doc_id, "unpostable", category="mapping", code="x", reason="r", actor="t")
    assert [f.code for f in ledger.open_failures("acme")] == ["x"]
    ledger.resolve_failures(doc_id, actor="alice", reason="fixed")
    assert ledger.open_failures("acme") == []


def test_transition_from_wrong_state_is_refused(ledger: Ledger) -> None:
    doc_id = _doc(ledger)
    assert not ledger.transition(doc_id, "created", actor="t")
    assert ledger.document_by_id(doc_id).status == DocStatus.PENDING


def test_files_dedupe_by_hash(ledger: Ledger) -> None:
    kw = {
        "connection": "acme",
        "kind": "invoices",
        "size": 10,
        "mtime": datetime(2025, 3, 10, tzinfo=UTC),
        "archive_path": None,
        "actor": "t",
    }
    a, new_a = ledger.record_file(remote_path="/outbound/invoices/a.csv", sha256="a" * 64, **kw)  # type: ignore[arg-type]
    b, new_b = ledger.record_file(remote_path="/outbound/invoices/b.csv", sha256="a" * 64, **kw)  # type: ignore[arg-type]
    assert (new_a, new_b) == (True, False)
    assert a == b
    known = ledger.known_file_paths("acme")
    assert known[("/outbound/invoices/a.csv", 10, datetime(2025, 3, 10, tzinfo=UTC))] == "downloaded"


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        ledger.record_file(
            connection="acme",
            kind="invoices",
            remote_path="/x",
            size=1,
            mtime=datetime(2025, 1, 1),  # noqa: DTZ001
            sha256="b" * 64,
            archive_path=None,
            actor="t",
        )


def test_master_data_replace_drops_what_visma_no_longer_lists(ledger: Ledger) -> None:
    ledger.replace_master("acme", "segment_value", {"1:0100": (True, {}), "1:0200": (True, {})})
    ledger.replace_master("acme", "segment_value", {"1:0200": (False, {"d": "x"})})
    assert ledger.master("acme", "segment_value") == {"1:0200": (False, {"d": "x"})}


def test_dead_claims() -> None:
    now = datetime.now(UTC)
    assert claim_is_dead(None, None, now)
    assert claim_is_dead("otherhost:1", now - timedelta(seconds=1), now)
    assert not claim_is_dead("otherhost:1", now + timedelta(minutes=5), now)
    import socket

    assert claim_is_dead(f"{socket.gethostname()}:999999999", now + timedelta(minutes=5), now)
    import os

    assert not claim_is_dead(f"{socket.gethostname()}:{os.getpid()}", now + timedelta(minutes=5), now)
