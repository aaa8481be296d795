"""[connections.NAME.masterdata]: off by default, valid values, every problem reported with key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.config.model import MasterdataConfig
from ml_connector.errors import ConfigError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def test_masterdata_export_is_off_by_default(write: Write) -> None:
    (conn,) = load_config(write(BASE), environ=ENV).connections
    assert conn.masterdata.enabled is False
    assert conn.masterdata.folder == "/inbound/masterdata"


def test_masterdata_settings_and_default_lists_follow_the_mapping(write: Write) -> None:
    text = (
        BASE
        + '\n[connections.acme.masterdata]\nenabled = true\nfolder = "/in/coding"\nfull_at = 03:30:00\n'
        + 'timezone = "UTC"\ndelta = false\nbom = true\n'
    )
    (conn,) = load_config(write(text), environ=ENV).connections
    assert conn.mapping.project_segment_id is None
    assert conn.masterdata == MasterdataConfig(
        enabled=True,
        folder="/in/coding",
        lists=("accounts", "cost_centers", "vat_codes", "credit_terms"),  # no project segment mapped
        full_at="03:30",
        timezone="UTC",
        delta=False,
        bom=True,
    )
    chosen = BASE + '\n[connections.acme.masterdata]\nlists = ["vat_codes", "accounts", "vat_codes"]\n'
    (conn,) = load_config(write(chosen), environ=ENV).connections
    assert conn.masterdata.lists == ("vat_codes", "accounts")


def test_masterdata_problems_are_all_reported_with_key_and_line(write: Write) -> None:
    text = (
        BASE
        + '\n[connections.acme.masterdata]\nfolder = "inbound"\nlists = ["accounts", "vendors", "gl"]\n'
        + 'full_at = "7 am"\ntimezone = "Mars/Olympus"\nenabeld = true\n'
    )
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    problems = info.value.problems
    lines = {
        key: n
        for n, line in enumerate(text.splitlines(), 1)
        for key in ("folder", "lists", "full_at", "timezone", "enabeld")
        if line.startswith(key)
    }

    def at(key: str) -> str:
        return f"connections.acme.masterdata.{key} (ml-connector.toml line {lines[key]})"

    assert len(problems) == 6, problems
    assert any(at("folder") in p and "absolute" in p for p in problems)
    assert any(at("lists") in p and "[vendors]" in p for p in problems)
    assert any(at("lists") in p and "unknown list 'gl'" in p for p in problems)
    assert any(at("full_at") in p and "HH:MM" in p for p in problems)
    assert any(at("timezone") in p and "Mars/Olympus" in p for p in problems)
    assert any(at("enabeld") in p and "did you mean 'enabled'" in p for p in problems)


def test_projects_list_needs_a_project_segment(write: Write) -> None:
    text = BASE + '\n[connections.acme.masterdata]\nlists = ["projects"]\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(text), environ=ENV)
    assert any("masterdata.lists" in p and "project_segment_id" in p for p in info.value.problems)
