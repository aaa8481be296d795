"""posting.concurrency: how many documents a connection posts at once (issue 18), its default, its
bounds, and that the runtime the service builds uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector import service
from ml_connector.config import load_config
from ml_connector.errors import ConfigError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def test_four_at_once_when_not_set(write: Write) -> None:
    (conn,) = load_config(write(BASE), environ=ENV).connections
    assert conn.posting.concurrency == 4


def test_the_runtime_posts_as_many_at_once_as_configured(write: Write) -> None:
    # the ledger defaults to a SQLite file beside the configuration (tmp_path)
    app = service.open_app(write(BASE + "\n[connections.acme.posting]\nconcurrency = 16\n"), environ=ENV)
    try:
        assert app.runtime("acme").post_concurrency == 16
    finally:
        app.close()


@pytest.mark.parametrize("value", ["0", "65", '"8"'])
def test_out_of_range_or_not_an_integer_is_reported_with_key_and_line(write: Write, value: str) -> None:
    text = BASE + f"\n[connections.acme.posting]\nconcurrency = {value}\n"
    line = text.splitlines().index(f"concurrency = {value}") + 1
    with pytest.raises(ConfigError) as info:
        load_config(write(text), environ=ENV)
    where = f"connections.acme.posting.concurrency (ml-connector.toml line {line})"
    assert any(where in p for p in info.value.problems), info.value.problems
