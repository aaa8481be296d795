"""The ledger's database: engine (SQLite or PostgreSQL), transactions and migrations.

``LedgerBase`` is what every part of the ledger (files, documents, failures, ...) builds on:
one engine, ``tx()`` that turns driver errors into ``LedgerError``, and ``upgrade()``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ml_connector.errors import LedgerError
from ml_connector.ledger import pgtext
from ml_connector.ledger.transaction import transaction
from ml_connector.ledger.writer import LedgerWriter
from ml_connector.private_files import private_file

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x6D6C6331  # pg_advisory_xact_lock key held while migrating ("mlc1")


def inserted_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise LedgerError("insert returned no primary key")
    return int(key[0])


class LedgerBase:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = open_engine(url)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot open the ledger database: {exc.__class__.__name__}") from exc
        # The posting path's writes, off the event loop and many documents per commit (ledger.writer).
        self.writer = LedgerWriter(self.engine)

    @classmethod
    def open(cls, url: str) -> Self:
        ledger = cls(url)
        ledger.upgrade()
        return ledger

    def upgrade(self) -> None:
        """Migrate to head; processes starting together wait for each other (else both would
        find an empty database and both try to create the tables)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with sqlite_file_lock(self.engine), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                elif conn.dialect.name == "sqlite":
                    # Python's sqlite3 runs DDL outside any transaction unless one is open: a process
                    # killed half-way through a migration would leave tables without the version
                    # row, and no later start could migrate that ledger. One explicit transaction
                    # makes the whole upgrade land or not at all (the driver commits it at the end).
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger migration failed: {exc}") from exc

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with transaction(self.engine) as conn:
            yield conn


def upsert(conn: Connection, table: sa.Table, keys: list[str], update: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET update = excluded.update`` (SQLite, PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(index_elements=keys, set_={c: pg.excluded[c] for c in update})
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table)
    return lite.on_conflict_do_update(index_elements=keys, set_={c: lite.excluded[c] for c in update})


@contextmanager
def sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive flock for the migration, on the directory that holds the SQLite file.

    Never on the database file itself: closing any descriptor of that file drops every POSIX
    lock SQLite holds on it in this process (sqlite.org/howtocorrupt.html §2.2), which let other
    processes reset the WAL under a live connection. No-op for other databases."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    import fcntl

    fd = os.open(Path(path).resolve().parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def open_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        db = engine.url.database
        if db and db != ":memory:" and not db.startswith("file:"):
            with contextlib.suppress(FileNotFoundError):  # no folder: SQLite's own error says so
                private_file(Path(db))  # SQLite gives its -wal and -shm files the same mode

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = sa.create_engine(url, pool_pre_ping=True)
    sa.event.listen(engine, "connect", lambda dbapi_conn, _record: pgtext.register(dbapi_conn))
    return engine
