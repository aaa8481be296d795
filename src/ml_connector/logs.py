"""Logging: console or JSON lines, with every record passed through ``ml_connector.redaction``.

Secrets are registered as they are resolved (``redaction.remember_secret``); the filter masks them,
and credentials the redactor recognises, in the formatted message and in exception text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from ml_connector.private_files import private_file
from ml_connector.redaction import redact

# What the code running now works on (connection, run id, document, job, worker): every record
# logged in this context carries these fields (JSON logs). Asyncio tasks inherit a copy.
_CONTEXT: ContextVar[dict[str, object] | None] = ContextVar("ml_connector_log_context", default=None)
CONTEXT_FIELDS = ("connection", "run_id", "document", "file", "job", "worker")


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """``with log_context(connection="acme", run_id=7): ...`` adds the fields to every record."""
    current = _CONTEXT.get() or {}
    token = _CONTEXT.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_log_context() -> dict[str, object]:
    return dict(_CONTEXT.get() or {})


class ContextFilter(logging.Filter):
    """Copies the current ``log_context`` onto the record (explicit ``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_CONTEXT.get() or {}).items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            formatter = logging.Formatter()
            message += "\n" + formatter.formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        return json.dumps(payload, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "console", file: Path | None = None) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler = (
        logging.FileHandler(private_file(file)) if file else logging.StreamHandler(sys.stderr)
    )
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter (asyncssh logs every channel) stays at warning unless debugging.
    for noisy in ("asyncssh", "httpx2", "httpcore2", "uvicorn.access", "procrastinate"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
