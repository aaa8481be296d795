"""The writer thread (``ledger.writer``) and the awaited document calls (``ledger.aio``), on SQLite
and PostgreSQL: compare-and-set stays atomic, many documents share one commit, an answer comes only
after its commit, and one failing op never takes the others of its batch with it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from ml_connector.errors import LedgerError
from ml_connector.ledger.documents import claim_in
from ml_connector.ledger.store import DocStatus, Ledger, Move
from tests.ledger.test_store import _doc

LEASE = timedelta(minutes=5)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def _claim(ledger: Ledger, doc_id: int) -> Any:
    return ledger.aio.claim(doc_id, voucher={"v": "1"}, period="202503", lease=LEASE)


def _actions(ledger: Ledger, key: str) -> list[str]:
    return [str(a.action) for a in ledger.audit_trail("document", key)]


def test_concurrent_awaited_claims_of_one_document_give_one_winner(ledger: Ledger) -> None:
    doc_id = _doc(ledger)

    async def race() -> list[bool]:
        return list(await asyncio.gather(*(_claim(ledger, doc_id) for _ in range(12))))

    wins = asyncio.run(race())
    assert wins.count(True) == 1
    row = ledger.document_by_id(doc_id)
    assert (row.status, row.attempts, row.voucher) == (DocStatus.POSTING, 1, {"v": "1"})
    assert _actions(ledger, "INV:1") == ["received", "claimed"]


def test_an_answer_comes_only_after_its_commit(ledger: Ledger, ledger_url: str) -> None:
    doc_id = _doc(ledger)
    other = Ledger(ledger_url)  # another connection pool: sees only what is committed
    try:

        async def claim_then_look() -> str:
            assert await _claim(ledger, doc_id)
            return other.document_by_id(doc_id).status

        assert asyncio.run(claim_then_look()) == DocStatus.POSTING
    finally:
        other.close()


def _hold(ledger: Ledger) -> tuple[threading.Event, threading.Event]:
    """Occupy the writer thread with one op until ``release`` is set; what is submitted meanwhile
    queues up and goes into the next batch."""
    started, release = threading.Event(), threading.Event()

    def wait(_conn: Connection) -> None:
        started.set()
        assert release.wait(30)

    ledger.writer.submit(wait)
    assert started.wait(30)
    return started, release


def test_ops_queued_meanwhile_share_one_commit(ledger: Ledger) -> None:
    if ledger.writer.inline:  # pragma: no cover - the fixture's databases are files or servers
        pytest.fail("the writer runs inline")
    ids = [_doc(ledger, f"INV:{n}") for n in range(10)]
    _, release = _hold(ledger)
    commits_before = ledger.writer.commits
    futures = [ledger.writer.submit(partial(ledger_claim_in, doc_id=i)) for i in ids]
    release.set()
    assert [f.result(30) for f in futures] == [True] * 10
    # the holding op's batch, then one batch (one commit) for the ten claims
    assert ledger.writer.commits - commits_before == 2
    assert {ledger.document_by_id(i).status for i in ids} == {DocStatus.POSTING}


def ledger_claim_in(conn: Connection, doc_id: int) -> bool:
    return claim_in(conn, doc_id, voucher={"v": "1"}, period="202503", lease=LEASE)


def test_a_failing_op_rolls_back_alone(ledger: Ledger) -> None:
    first, second = _doc(ledger, "INV:1"), _doc(ledger, "INV:2")
    _, release = _hold(ledger)

    def broken(conn: Connection) -> None:
        ledger_claim_in(conn, second)  # its own write is rolled back with it
        raise RuntimeError("boom")

    futures: list[Future[Any]] = [
        ledger.writer.submit(partial(ledger_claim_in, doc_id=first)),
        ledger.writer.submit(broken),
        ledger.writer.submit(partial(ledger_claim_in, doc_id=second)),
    ]
    release.set()
    assert futures[0].result(30) is True
    with pytest.raises(RuntimeError, match="boom"):
        futures[1].result(30)
    assert futures[2].result(30) is True
    # each claimed exactly once: the batch that held the failing op was rolled back, then each op
    # ran again alone
    for doc_id, key in ((first, "INV:1"), (second, "INV:2")):
        assert ledger.document_by_id(doc_id).attempts == 1
        assert _actions(ledger, key) == ["received", "claimed"]


def test_a_chain_applies_all_or_nothing(ledger: Ledger) -> None:
    doc_id = _doc(ledger)
    created = Move("created", reason="batch 7", values={"batch_number": "7", "etag": "e"})
    on_hold = Move("posted", reason="left on hold")

    async def run() -> tuple[bool, bool]:
        early = await ledger.aio.transitions(doc_id, [created, on_hold], actor="t")  # still pending
        assert await _claim(ledger, doc_id)
        return early, await ledger.aio.transitions(doc_id, [created, on_hold], actor="t")

    assert asyncio.run(run()) == (False, True)
    row = ledger.document_by_id(doc_id)
    assert (row.status, row.batch_number) == (DocStatus.POSTED, "7")
    assert _actions(ledger, "INV:1") == ["received", "claimed", "created", "posted"]
    with pytest.raises(ValueError, match="cannot follow"):
        asyncio.run(ledger.aio.transitions(doc_id, [on_hold, created], actor="t"))
    with pytest.raises(ValueError, match="use park"):
        asyncio.run(ledger.aio.transitions(doc_id, [Move("rejected")], actor="t"))


def test_awaited_park_and_reads(ledger: Ledger) -> None:
    doc_id = _doc(ledger)

    async def run() -> list[str]:
        assert await _claim(ledger, doc_id)
        assert await ledger.aio.park(doc_id, "rejected", category="c", code="x", reason="no", actor="t")
        assert not await ledger.aio.park(doc_id, "rejected", category="c", code="x", reason="no", actor="t")
        parked = await ledger.aio.documents_with_status("acme", [DocStatus.PARKED])
        return [d.doc_key for d in parked] + [(await ledger.aio.document_by_id(doc_id)).status]

    assert asyncio.run(run()) == ["INV:1", DocStatus.PARKED]
    assert [f.code for f in ledger.open_failures("acme")] == ["x"]


def test_closed_writer_refuses_new_work(ledger_url: str) -> None:
    led = Ledger.open(ledger_url)
    doc_id = _doc(led)
    assert asyncio.run(_claim(led, doc_id))
    led.close()
    with pytest.raises(LedgerError, match="closed"):
        led.writer.submit(lambda conn: None)
