"""``users add`` reads a piped password as it is, without ``GetPassWarning`` (issue 13 point 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ml_connector import service
from ml_connector.config import TEMPLATE_ENV_VARS, render_template
from ml_connector.service import accounts

CONSOLE = Path(sys.executable).with_name("ml-connector")


def test_users_add_reads_a_piped_password_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "ml-connector.toml"
    config.write_text(render_template(), encoding="utf-8")
    env = {**os.environ, **{name: "x" for name in TEMPLATE_ENV_VARS}}
    env.pop("ML_CONNECTOR_CONFIG", None)
    env.pop("ML_CONNECTOR_DATABASE_URL", None)
    done = subprocess.run(
        [str(CONSOLE), "users", "add", "vera", "--role", "viewer", "-c", str(config)],
        input="piped-password-42\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GetPassWarning" not in done.stderr and "piped-password-42" not in done.stdout + done.stderr
    listed = subprocess.run(
        [str(CONSOLE), "users", "list", "--format", "csv", "-c", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0 and listed.stdout.splitlines()[0] == "user,role,created", listed.stdout
    assert listed.stdout.splitlines()[1].startswith("vera,viewer,"), listed.stdout
    app = service.open_app(config, environ=env)
    try:
        assert accounts.authenticate(app.ledger, "vera", "piped-password-42") is not None
    finally:
        app.close()
