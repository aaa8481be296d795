"""[connections.NAME.vendors]: defaults, valid values, and every problem reported with key and line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector.config import load_config, render_template
from ml_connector.config.model import VendorsConfig
from ml_connector.errors import ConfigError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def test_vendor_export_defaults_without_a_table(write: Write) -> None:
    (conn,) = load_config(write(BASE), environ=ENV).connections
    assert conn.vendors == VendorsConfig(
        enabled=True, full_at="02:00", timezone="Europe/Oslo", delta=True, bom=False
    )
    assert conn.sftp.vendors_folder == "/inbound/vendors"


def test_vendor_export_settings(write: Write) -> None:
    text = (
        BASE
        + '\n[connections.acme.vendors]\nenabled = false\nfull_at = "23:15"\n'
        + 'timezone = "UTC"\ndelta = false\nbom = true\n'
    )
    (conn,) = load_config(write(text), environ=ENV).connections
    assert conn.vendors == VendorsConfig(
        enabled=False, full_at="23:15", timezone="UTC", delta=False, bom=True
    )
    toml_time = BASE + "\n[connections.acme.vendors]\nfull_at = 04:30:00\n"
    assert load_config(write(toml_time), environ=ENV).connections[0].vendors.full_at == "04:30"


def test_vendor_export_problems_are_all_reported_with_key_and_line(write: Write) -> None:
    text = (
        BASE
        + '\n[connections.acme.vendors]\nfull_at = "25:00"\n'
        + 'timezone = "Mars/Olympus"\nbom = "yes"\ndleta = true\n'
    )
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    problems = info.value.problems
    lines = {
        key: n
        for n, line in enumerate(text.splitlines(), 1)
        for key in ("full_at", "timezone", "bom", "dleta")
        if line.startswith(key)
    }
    assert len(problems) == 4, problems
    assert any(
        f"connections.acme.vendors.full_at (ml-connector.toml line {lines['full_at']})" in p and "HH:MM" in p
        for p in problems
    )
    assert any(
        f"vendors.timezone (ml-connector.toml line {lines['timezone']})" in p and "Mars/Olympus" in p
        for p in problems
    )
    assert any(f"vendors.bom (ml-connector.toml line {lines['bom']})" in p for p in problems)
    assert any("vendors.dleta" in p and "did you mean 'delta'" in p for p in problems)


def test_template_documents_the_vendor_table(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(render_template(), encoding="utf-8")
    cfg = load_config(path, environ={"ACME_SFTP_PASSWORD": "x", "ACME_VISMA_CLIENT_SECRET": "y"})
    # every default, except that the template leaves the export off: it writes into the customer's
    # Stampli folder, so it is turned on deliberately (issue 13 point 9)
    assert cfg.connections[0].vendors == dataclasses.replace(VendorsConfig(), enabled=False)
    assert "[connections.acme.vendors]" in render_template()
