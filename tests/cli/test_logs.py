"""Secrets never reach a log line, also through exceptions and at debug level."""

from __future__ import annotations

import logging
from pathlib import Path

from ml_connector.logs import configure
from ml_connector.redaction import redact, remember_secret


def test_redact_known_secrets_bearer_and_url_credentials() -> None:
    remember_secret("s3cr3t-value-123")
    text = redact(
        "token s3cr3t-value-123 Authorization: Bearer eyJhbGciOi.abc.def url postgresql://u:pw-x@db/x"
    )
    assert "s3cr3t-value-123" not in text
    assert "eyJhbGciOi" not in text
    assert "pw-x" not in text


def test_log_file_has_no_secret_even_in_tracebacks(tmp_path: Path) -> None:
    secret = "hunter2-very-secret"
    remember_secret(secret)
    log_file = tmp_path / "ml.log"
    configure("DEBUG", "json", log_file)
    log = logging.getLogger("ml_connector.test")
    log.debug("connecting with %s", secret)
    try:
        raise RuntimeError(f"login failed for password {secret}")
    except RuntimeError:
        log.exception("boom")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "connecting with ***" in text
    assert "boom" in text and "RuntimeError" in text
    assert secret not in text
    configure("WARNING", "console", None)
