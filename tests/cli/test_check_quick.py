"""``check`` and ``run`` a cron job can trust (issues 12.5, 13.11, 19.12): with both sides down
``check`` answers within seconds and names both failures; with every connection disabled ``run``
and ``check`` say so and exit 6 (NOTHING_ENABLED) instead of printing an empty table."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncssh

from ml_connector import exitcodes, service

CONSOLE = Path(sys.executable).with_name("ml-connector")


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, *, enabled: bool = True) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    sftp_port, visma_port = _closed_port(), _closed_port()
    path = tmp_path / "ml-connector.toml"
    path.write_text(
        f"""ledger_url = "sqlite:///{tmp_path / "ledger.db"}"

[connections.acme]
stampli_company_id = "C100234"
enabled = {"true" if enabled else "false"}
[connections.acme.sftp]
host = "127.0.0.1"
port = {sftp_port}
username = "stampli"
password = "env:SFTP_PW"
host_key = "{key[0]} {key[1]}"
[connections.acme.visma]
api_url = "http://127.0.0.1:{visma_port}/API"
token_url = "http://127.0.0.1:{visma_port}/connect/token"
client_id = "id"
client_secret = "env:VISMA_SECRET"
tenant_id = "t1"
company_id = "1"
[connections.acme.mapping]
credit_account = "2460"
""",
        encoding="utf-8",
    )
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SFTP_PW": "pw", "VISMA_SECRET": "secret", "COLUMNS": "250"}
    env.pop("ML_CONNECTOR_CONFIG", None)
    env.pop("ML_CONNECTOR_DATABASE_URL", None)
    return subprocess.run(
        [str(CONSOLE), *args, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
        check=False,
    )


def test_check_with_both_sides_down_answers_in_seconds(tmp_path: Path) -> None:
    config = _config(tmp_path)
    app = service.open_app(config, environ={"SFTP_PW": "pw", "VISMA_SECRET": "secret"})
    try:
        started = time.monotonic()
        rows = asyncio.run(service.check(app))
        elapsed = time.monotonic() - started
    finally:
        app.close()
    failed = {r.side: r.detail for r in rows if not r.ok}
    assert set(failed) == {"stampli", "visma"}, rows
    assert "cannot connect" in failed["stampli"] and "could not connect" in failed["visma"], failed
    # Both sides refused: one quick retry each, both at once (it took 72 s before).
    assert elapsed < 5, f"check took {elapsed:.1f}s"
    # As a user runs it: the same rows, exit 1 (FAILED).
    proc = _cli(config, "check", "--json")
    assert proc.returncode == exitcodes.FAILED, proc.stderr
    assert {r["side"] for r in json.loads(proc.stdout) if not r["ok"]} == {"stampli", "visma"}


def test_nothing_enabled_is_said_and_not_success(tmp_path: Path) -> None:
    config = _config(tmp_path, enabled=False)
    for command in ("run", "check"):
        proc = _cli(config, command)
        assert proc.returncode == exitcodes.NOTHING_ENABLED, (command, proc.stdout, proc.stderr)
        assert "no connection is enabled" in proc.stderr and "acme" in proc.stderr, proc.stderr
        assert "enabled = true" in proc.stderr
