from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.config import TEMPLATE_ENV_VARS, load_config, render_template
from ml_connector.entrypoints.cli import config_cmd
from ml_connector.entrypoints.cli.app import app
from ml_connector.errors import ConfigError

assert config_cmd  # importing the module registers "init" on app


def template_env() -> dict[str, str]:
    return {name: f"value-of-{name}" for name in TEMPLATE_ENV_VARS}


def test_template_loads_cleanly_once_its_variables_are_set(tmp_path: Path) -> None:
    path = tmp_path / "ml-connector.toml"
    path.write_text(render_template())
    cfg = load_config(path, environ=template_env())
    (conn,) = cfg.connections
    assert conn.name == "acme" and conn.enabled and conn.sftp.pinned_host_key.is_placeholder
    assert conn.mapping.default_segments == {1: "0000", 2: "00"}
    assert conn.mapping.reverse_charge == {"86": ("2720", "2740")}
    assert conn.posting.release is True and conn.posting.closed_period_policy == "park"


def test_template_without_variables_reports_each_one(tmp_path: Path) -> None:
    path = tmp_path / "ml-connector.toml"
    path.write_text(render_template())
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert len(info.value.problems) == len(TEMPLATE_ENV_VARS)
    for name in TEMPLATE_ENV_VARS:
        assert any(f"environment variable {name} is not set" in p for p in info.value.problems)


def test_init_writes_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "conf.toml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text() == render_template()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "ACME_VISMA_CLIENT_SECRET" in result.output

    path.write_text("mine")
    again = runner.invoke(app, ["init", str(path)])
    assert isinstance(again.exception, ConfigError) and "--force" in str(again.exception)
    assert path.read_text() == "mine"

    path.chmod(0o644)
    forced = runner.invoke(app, ["init", str(path), "--force"])
    assert forced.exit_code == 0 and path.read_text() == render_template()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_default_path_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    assert (tmp_path / "ml-connector.toml").is_file()


def test_every_template_key_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    keys = set(re.findall(r"^#? ?([a-z_]+) = ", render_template(), flags=re.M))
    assert len(keys) > 30
    missing = sorted(k for k in keys if f"`{k}`" not in docs)
    assert missing == []


def test_template_leaves_the_vendor_export_off_and_says_why(tmp_path: Path) -> None:
    """Writing into the customer's Stampli folder is opt-in (issue 13 point 9)."""
    path = tmp_path / "ml-connector.toml"
    path.write_text(render_template())
    (conn,) = load_config(path, environ=template_env()).connections
    assert conn.vendors.enabled is False
    section = render_template().split("[connections.acme.vendors]", 1)[1]
    assert "WRITES files into the customer's Stampli SFTP folder" in section


def test_init_tells_the_vault_story(tmp_path: Path) -> None:
    """init's help and output name the vault steps that README's "Running it for real" shows
    (issue 13 point 2): new-key, [vault], secrets set, vault: references."""
    path = tmp_path / "conf.toml"
    result = CliRunner().invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    for step in (
        "secrets new-key",
        "[vault]",
        "secrets set acme_sftp_password",
        '"vault:acme_sftp_password"',
    ):
        assert step in result.output, result.output
    helptext = CliRunner().invoke(app, ["init", "--help"], env={"COLUMNS": "200"}).output
    assert "vault" in helptext and "stay in environment variables" not in helptext
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    real = readme.split("## Running it for real", 1)[1].split("###", 1)[0]
    assert "[vault]" in real and "secrets set" in real and "vault:" in real
