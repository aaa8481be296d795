"""The one redactor (ml_connector.redaction) and every place that used to mask secrets its own way:
each still masks at least what it did before they were merged."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncssh
import httpx2
import pytest

from ml_connector.adapters.sftp.connection import translate
from ml_connector.adapters.visma.classify import visma_message
from ml_connector.config.model import AppConfig
from ml_connector.logs import RedactingFilter
from ml_connector.redaction import (
    MASK,
    redact,
    redact_headers,
    redact_url,
    redact_value,
    redactor,
    remember_secret,
)
from ml_connector.service import views


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("ml_connector.test", logging.INFO, __file__, 1, message, args, None)


def test_free_text_rules_are_the_union_of_the_former_redactors() -> None:
    text = (
        "proxy Basic dXNlcjpwYXNz, Bearer eyJhbGciOi.abc.def, url postgresql://u:pw-77x@db/x; "
        'form client_secret=form-5ecret&x=1; json {"refresh_token": "json-r3fresh", "expires_in": 3600}'
    )
    out = redact(text)
    for leaked in ("eyJhbGciOi", "dXNlcjpwYXNz", "pw-77x", "form-5ecret", "json-r3fresh"):
        assert leaked not in out
    assert "postgresql://u:***@db/x" in out and "x=1" in out and '"expires_in": 3600' in out
    assert redact("headers {'Authorization': 'Token t0k-99', 'Accept': 'json'}") == (
        "headers {'Authorization': '***', 'Accept': 'json'}"
    )


def test_known_secrets_registered_or_given_longest_first() -> None:
    remember_secret("reg-Secret-4411")
    remember_secret("abc")  # too short to be told from ordinary text: never registered
    given = ["given-Secret-9", None, "", "given-Secret-9-longer"]
    out = redact("reg-Secret-4411 given-Secret-9 given-Secret-9-longer abc", given)
    assert out == f"{MASK} {MASK} {MASK} abc"


def test_private_key_blocks_are_masked_even_when_cut_off() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()
    body = key.splitlines()[1]
    assert body not in redact(f"cannot read key:\n{key}\nend")
    assert "end" in redact(f"cannot read key:\n{key}\nend")
    assert body not in redact(f"truncated: {key[:120]}")


def test_redact_url_user_info_password_only_and_parameters() -> None:
    url = "postgresql+psycopg://conn:pa#ss/w@db:5432/ledger?host=/run/pg&password=q-Pw&sslmode=require"
    kept = redact_url(url, keep_user=True)
    assert kept == "postgresql+psycopg://conn:***@db:5432/ledger?host=/run/pg&password=***&sslmode=require"
    assert (
        redact_url(url) == "postgresql+psycopg://***@db:5432/ledger?host=/run/pg&password=***&sslmode=require"
    )
    assert redact_url("https://tok3n@h/p") == "https://***@h/p"  # a bare user name may be a token
    assert redact_url("sqlite:///state/ledger.db") == "sqlite:///state/ledger.db"
    assert redact_url("https://h/p?client%5Fsecret=x#frag") == "https://h/p?client%5Fsecret=***#frag"


def test_redact_headers_and_values() -> None:
    assert redact_headers({"X-Api-Key": "k", "Accept": "json"}) == {"X-Api-Key": MASK, "Accept": "json"}
    assert redact_value(None) == "" and redact_value(12) == "12"


# ---------------------------------------------------------------------------------- former call sites


def test_log_filter_masks_registered_secrets_and_credentials_in_arguments() -> None:
    remember_secret("log-Secret-8a8a")
    record = _record("login %s with %s", "log-Secret-8a8a", "https://u:url-pw@h/ password=form-pw")
    RedactingFilter().filter(record)
    assert record.getMessage() == f"login {MASK} with https://u:{MASK}@h/ password={MASK}"


def test_visma_messages_mask_given_secrets_tokens_and_fields() -> None:
    body = 'invalid_client: secret vis-Secret-33 rejected, Bearer eyJ.x.y, "client_secret": "vis-Secret-33"'
    response = httpx2.Response(400, text=body, request=httpx2.Request("POST", "https://h/token"))
    message, code = visma_message(response, ["vis-Secret-33"])
    assert message is not None and code is None
    assert "vis-Secret-33" not in message and "eyJ" not in message and "invalid_client" in message


def test_ledger_url_in_the_config_repr_keeps_the_role_only() -> None:
    cfg = AppConfig(
        path=Path("x.toml"), ledger_url="postgresql+psycopg://conn:pg-Pass-1@db/ledger?password=p2"
    )
    assert cfg.ledger_url_redacted == "postgresql+psycopg://conn:***@db/ledger?password=***"
    assert "pg-Pass-1" not in repr(cfg) and "p2" not in repr(cfg)


@pytest.mark.parametrize("exc_type", [OSError, asyncssh.SFTPConnectionLost])
def test_sftp_library_messages_mask_the_account_secrets(exc_type: type[Exception]) -> None:
    scrub = redactor("sftp-Pw-7171", None, "pass-Phrase-2")
    exc = exc_type("auth with sftp-Pw-7171 / pass-Phrase-2 failed")
    err = translate(exc, "list", "h:22", scrub)
    assert "sftp-Pw-7171" not in str(err) and "pass-Phrase-2" not in str(err) and "failed" in str(err)


def test_dashboard_views_mask_free_text() -> None:
    remember_secret("view-Secret-515")
    redacted = views._redacted  # type: ignore[attr-defined]  # the views' own (private) name for it
    assert redacted("Visma said view-Secret-515") == f"Visma said {MASK}"
    assert redacted(None) == ""
