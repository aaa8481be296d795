"""One ledger transaction, and the one place that turns driver errors into ``LedgerError``
(``IntegrityError`` passes: callers catch it, e.g. a key inserted by another process first)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ml_connector.errors import LedgerError


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise LedgerError(f"ledger error: {exc.__class__.__name__}: {exc}") from exc
