"""A migration that stops half-way leaves the ledger as it was: the next start migrates it.

SQLite under Python's sqlite3 runs DDL outside any transaction unless one is open, so an upgrade
that failed (or a process killed) after its first CREATE TABLE used to leave tables without the
version row, and every later start failed with "table files already exists"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector.errors import LedgerError
from ml_connector.ledger.store import Ledger


class _Stop(Exception):
    pass


def _stop(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if statement.lstrip().startswith("CREATE TABLE documents"):  # after "files"
        raise _Stop("stopped half-way through the migration")


@contextmanager
def _stopping_half_way() -> Iterator[None]:
    """Every engine fails the statement that creates the documents table."""
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _stop)
    try:
        yield
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", _stop)


def _tables(db: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_failed_first_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with _stopping_half_way(), pytest.raises((LedgerError, _Stop)):
        Ledger.open(f"sqlite:///{db}")
    assert _tables(db) == set()  # "files" was created before the stop, and rolled back with it


def test_the_next_start_migrates_a_ledger_whose_first_migration_failed(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with _stopping_half_way(), pytest.raises((LedgerError, _Stop)):
        Ledger.open(f"sqlite:///{db}")
    ledger = Ledger.open(f"sqlite:///{db}")
    try:
        assert {"files", "documents", "alembic_version"} <= _tables(db)
    finally:
        ledger.close()


def test_a_process_killed_during_its_first_migration_leaves_a_ledger_the_next_start_migrates(
    tmp_path: Path,
) -> None:
    """SIGKILL (the process exits at once) right after the documents table was created, before the
    migration's end: the next process opens and migrates the ledger."""
    db = tmp_path / "ledger.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        import sqlalchemy as sa
        from ml_connector.ledger.store import Ledger

        def kill(_conn, _cursor, statement, *_):
            if statement.lstrip().startswith("CREATE TABLE failures"):
                os.kill(os.getpid(), signal.SIGKILL)

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", kill)
        Ledger.open("sqlite:///{db}")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    ledger = Ledger.open(f"sqlite:///{db}")
    try:
        assert {"files", "documents", "failures", "alembic_version"} <= _tables(db)
    finally:
        ledger.close()
