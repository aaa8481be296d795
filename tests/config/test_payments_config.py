"""[connections.NAME.payments]: who pays the suppliers, its default, and its problems with key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.config.model import PaymentsConfig
from ml_connector.errors import ConfigError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def test_stampli_pays_when_the_table_is_absent(write: Write) -> None:
    (conn,) = load_config(write(BASE), environ=ENV).connections
    assert conn.payments == PaymentsConfig(source="stampli")


@pytest.mark.parametrize("source", ["stampli", "visma"])
def test_either_source_is_taken(write: Write, source: str) -> None:
    text = BASE + f'\n[connections.acme.payments]\nsource = "{source}"\n'
    (conn,) = load_config(write(text), environ=ENV).connections
    assert conn.payments.source == source


def test_an_unknown_source_a_wrong_type_and_a_stray_key_are_reported_with_key_and_line(write: Write) -> None:
    text = BASE + '\n[connections.acme.payments]\nsource = "bank"\nsorce = "visma"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(text), environ=ENV)
    problems = info.value.problems
    line = {
        key: n
        for n, ln in enumerate(text.splitlines(), 1)
        for key in ("source", "sorce")
        if ln.startswith(key)
    }
    assert len(problems) == 2, problems
    assert any(
        f"connections.acme.payments.source (ml-connector.toml line {line['source']})" in p
        and "'bank' is not one of 'stampli', 'visma'" in p
        for p in problems
    ), problems
    assert any(
        f"connections.acme.payments.sorce (ml-connector.toml line {line['sorce']})" in p for p in problems
    )

    typed = BASE + "\n[connections.acme.payments]\nsource = true\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(typed), environ=ENV)
    assert any(
        "connections.acme.payments.source" in p and "one of 'stampli', 'visma'" in p
        for p in info.value.problems
    )
