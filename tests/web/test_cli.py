"""The dashboard's commands as an operator runs them (the console script in subprocesses):
``users add/list``, ``serve`` with the dashboard beside the cycles, ``dashboard`` alone; both stop
cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.web.conftest import SFTP_ENV, VISMA_ENV, Web, World, _config, free_socket

CONSOLE = Path(sys.executable).with_name("ml-connector")


def _env(world: World) -> dict[str, str]:
    sftp_pw, visma_secret = world.secret_values[:2]
    return {**os.environ, SFTP_ENV: sftp_pw, VISMA_ENV: visma_secret, "ML_CONNECTOR_SETTLE_AFTER": "0"}


def _cli(world: World, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE), *args], input=stdin, capture_output=True, text=True, timeout=60, env=_env(world)
    )


def _free_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _wait_healthy(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx2.get(base + "/api/health", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the dashboard did not come up")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err
    return err


def test_users_serve_and_dashboard_commands(world: World, tmp_path: Path) -> None:
    cfg = tmp_path / "ml-connector.toml"
    cfg.write_text(_config(world.sftp, world.sim.server), encoding="utf-8")
    password = "ann-has-a-long-password"
    added = _cli(
        world,
        "users",
        "add",
        "ann",
        "--role",
        "operator",
        "-c",
        str(cfg),
        "--password-stdin",
        stdin=password + "\n",
    )
    assert added.returncode == 0, added.stderr
    again = _cli(
        world,
        "users",
        "add",
        "ann",
        "--role",
        "viewer",
        "-c",
        str(cfg),
        "--password-stdin",
        stdin=password + "\n",
    )
    assert again.returncode != 0 and "exists already" in again.stderr
    bad = _cli(
        world, "users", "add", "bob", "--role", "admin", "-c", str(cfg), "--password-stdin", stdin="x" * 12
    )
    assert bad.returncode != 0
    short = _cli(
        world, "users", "add", "bob", "--role", "viewer", "-c", str(cfg), "--password-stdin", stdin="short\n"
    )
    assert short.returncode != 0 and "at least" in short.stderr
    listed = _cli(world, "users", "list", "-c", str(cfg))
    assert "ann" in listed.stdout and "operator" in listed.stdout and "scrypt" not in listed.stdout
    for cmd in ("serve", "dashboard"):
        assert "127.0.0.1" in _cli(world, cmd, "--help").stdout  # loopback unless told otherwise

    # serve: cycles and the dashboard in one process
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(CONSOLE), "serve", "-c", str(cfg), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(world),
    )
    try:
        _wait_healthy(base, proc)
        web = Web(base)
        assert web.login("ann", password).status_code == 303
        deadline = time.monotonic() + 30
        while True:
            [acme] = web.http.get("/api/overview").json()
            if acme["last_run"] and acme["last_run"]["status"] != "running":
                break
            assert time.monotonic() < deadline, acme
            time.sleep(0.2)
        assert acme["last_run"]["status"] == "ok", acme["last_run"]
        assert acme["posted"] > 0
        web.close()
    finally:
        if proc.poll() is None:
            _stop(proc)

    # dashboard alone: no cycle runs
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(CONSOLE), "dashboard", "-c", str(cfg), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(world),
    )
    try:
        _wait_healthy(base, proc)
        web = Web(base)
        assert web.login("ann", password).status_code == 303
        runs_before = web.http.get("/api/overview").json()[0]["last_run"]["id"]
        time.sleep(0.5)
        assert web.http.get("/api/overview").json()[0]["last_run"]["id"] == runs_before
        web.close()
    finally:
        if proc.poll() is None:
            _stop(proc)
