"""Counting a ledger's commits (the benchmark's throughput rows and the intake tests)."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa


class LedgerCommits:
    """Counts the ledger's commits on an engine until ``stop()``: every one, and the writing ones
    (a transaction that ran an INSERT, UPDATE or DELETE: an fsync of the WAL with synchronous=FULL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.all = 0
        self.writing = 0
        self._dirty: set[int] = set()
        self._lock = threading.Lock()  # the writer thread commits too
        sa.event.listen(engine, "before_cursor_execute", self._execute)
        sa.event.listen(engine, "commit", self._commit)

    def _execute(self, conn: sa.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            with self._lock:
                self._dirty.add(id(conn.connection.dbapi_connection))

    def _commit(self, conn: sa.Connection) -> None:
        key = id(conn.connection.dbapi_connection)
        with self._lock:
            self.all += 1
            if key in self._dirty:
                self._dirty.discard(key)
                self.writing += 1

    def stop(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._execute)
        sa.event.remove(self.engine, "commit", self._commit)
