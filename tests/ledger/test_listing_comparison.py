"""The intake's set comparison (FileRecords.not_taken_in), on SQLite and on PostgreSQL: one query,
identity (path, size, mtime in whole seconds), statuses to look at again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.domain.files import RemoteFile
from ml_connector.ledger.store import Ledger

T = datetime(2025, 3, 10, 6, 30, 15, tzinfo=UTC)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def _record(ledger: Ledger, remote: RemoteFile, sha: str, status: str | None = None) -> None:
    file_id, _ = ledger.record_file(
        connection="acme",
        kind="invoices",
        remote_path=remote.path,
        size=remote.size,
        mtime=remote.mtime,
        sha256=sha * 64,
        archive_path=None,
        actor="t",
    )
    if status is not None:
        ledger.finish_file(file_id, status=status, count=0, issues=[], actor="t")


def test_only_what_the_ledger_does_not_hold_comes_back(ledger: Ledger) -> None:
    done = RemoteFile("/out/invoices/a.csv", 10, T)
    downloaded = RemoteFile("/out/invoices/b.csv", 20, T + timedelta(hours=2))
    too_large = RemoteFile("/out/invoices/c.csv", 30, T)
    _record(ledger, done, "a", "processed")
    _record(ledger, downloaded, "b")
    _record(ledger, too_large, "c", "too_large")
    new = RemoteFile("/out/invoices/d.csv", 10, T)
    grown = RemoteFile(done.path, 11, T)  # same name, other size: another identity
    touched = RemoteFile(done.path, 10, T + timedelta(seconds=1))  # same name, other mtime
    listed = [done, downloaded, too_large, new, grown, touched]
    got = ledger.not_taken_in("acme", listed, recheck={"too_large"})
    assert got == {too_large: "too_large", new: None, grown: None, touched: None}
    assert ledger.not_taken_in("acme", listed) == {new: None, grown: None, touched: None}
    assert ledger.not_taken_in("other", [done]) == {done: None}  # never across connections
    assert ledger.not_taken_in("acme", []) == {}


def test_mtimes_compare_in_whole_utc_seconds(ledger: Ledger) -> None:
    """SFTP lists whole seconds; a stored mtime in another zone is the same instant."""
    cet = T.astimezone(datetime.now().astimezone().tzinfo)
    _record(ledger, RemoteFile("/out/invoices/a.csv", 10, cet), "a", "processed")
    assert ledger.not_taken_in("acme", [RemoteFile("/out/invoices/a.csv", 10, T)]) == {}
