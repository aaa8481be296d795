"""[webhooks]: off by default, the settings, and every problem reported with key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.config.secrets import SecretRef
from ml_connector.errors import ConfigError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def test_webhooks_are_off_without_a_table(write: Write) -> None:
    assert load_config(write(BASE), environ=ENV).webhooks is None


def test_webhook_settings(write: Write, tmp_path: Path) -> None:
    (tmp_path / "hook.crt").write_text("cert", encoding="utf-8")
    (tmp_path / "hook.key").write_text("key", encoding="utf-8")
    text = (
        BASE
        + '\n[webhooks]\nenabled = true\nsecret = "env:HOOK_KEY"\nport = 8471\nhost = "0.0.0.0"\n'
        + 'tls_cert = "hook.crt"\ntls_key = "hook.key"\nsignature_header = "X-Signature"\n'
        + 'max_age = 120\npath = "/hooks/visma/"\n'
    )
    hooks = load_config(write(text), environ={**ENV, "HOOK_KEY": "k"}).webhooks
    assert hooks is not None and hooks.enabled
    assert hooks.secret == SecretRef.parse("env:HOOK_KEY")
    assert (hooks.port, hooks.host, hooks.path) == (8471, "0.0.0.0", "/hooks/visma")
    assert hooks.tls_cert == tmp_path / "hook.crt" and hooks.tls_key == tmp_path / "hook.key"
    assert (hooks.signature_header, hooks.max_age) == ("X-Signature", 120)
    disabled = BASE + '\n[webhooks]\nsecret = "env:NOT_SET_ANYWHERE"\n'
    off = load_config(write(disabled), environ=ENV).webhooks
    assert off is not None and not off.enabled and off.port is None  # not resolved while off


def test_webhook_problems_are_all_reported_with_key_and_line(write: Write) -> None:
    text = (
        BASE
        + '\n[webhooks]\nenabled = true\nsecret = "env:HOOK_KEY_MISSING"\npath = "api/hooks"\n'
        + 'port = 70000\ntls_cert = "nowhere.crt"\nsignature_header = "X Sig"\nmax_age = 1\nprot = 1\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(text), environ=ENV)
    problems = info.value.problems
    lines = {line.split(" ")[0]: n for n, line in enumerate(text.splitlines(), 1) if " = " in line}

    def found(key: str, words: str) -> bool:
        where = f"webhooks.{key} (ml-connector.toml line {lines[key]})"
        return any(where in p and words in p for p in problems)

    assert found("secret", "HOOK_KEY_MISSING")
    assert found("path", 'must start with "/"')
    assert found("port", "out of range")
    assert found("tls_cert", "file not found")
    assert found("tls_cert", "set tls_cert and tls_key together")
    assert found("signature_header", "not an HTTP header name")
    assert found("max_age", "out of range")
    assert found("prot", "did you mean 'port'")
    assert len(problems) == 8, problems
