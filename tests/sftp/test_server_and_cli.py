"""Timeouts, refused connections, the embedded server from sync code, and the two CLI commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.adapters.sftp import SftpSettings, SftpSource, fetch_host_key
from ml_connector.entrypoints.cli.app import app
from ml_connector.errors import TransientSourceError
from ml_connector.retry import RetryPolicy
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from tests.support.sshd import OpenSshServer, free_port

REPO = Path(__file__).resolve().parents[2]


async def test_silent_server_times_out_and_gives_up_within_the_policy() -> None:
    """A peer that accepts TCP but never speaks SSH: connect timeout, retried, then transient."""
    accepted: list[int] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = SftpSettings(
        host="127.0.0.1",
        port=port,
        username="u",
        password="p" * 8,
        host_key="SHA256:" + "A" * 43,
        connect_timeout=0.2,
    )
    started = time.monotonic()
    try:
        with pytest.raises(TransientSourceError, match=r"no SSH login within 0\.2s"):
            async with SftpSource(
                settings, policy=RetryPolicy(attempts=3, base_delay=1, max_delay=1, total_timeout=60)
            ):
                pass
    finally:
        server.close()
        await server.wait_closed()
    assert len(accepted) == 3  # bounded by attempts
    assert time.monotonic() - started < 2


async def test_nothing_listening_is_transient_and_bounded() -> None:
    settings = SftpSettings(
        host="127.0.0.1", port=free_port(), username="u", password="p" * 8, host_key="SHA256:" + "A" * 43
    )
    with pytest.raises(TransientSourceError, match="cannot connect"):
        async with SftpSource(settings):  # production SFTP_POLICY, delays x0.01
            pass


async def test_fetch_host_key_from_openssh(openssh_server: OpenSshServer) -> None:
    info = await fetch_host_key(openssh_server.host, openssh_server.port)
    assert info.fingerprint_sha256 == openssh_server.host_key_fingerprint
    assert info.known_hosts_line == openssh_server.host_key_line
    assert info.key_type == "ssh-ed25519"


def test_embedded_server_from_sync_code_in_a_thread(tmp_path: Path) -> None:
    srv = EmbeddedSftpServer(tmp_path, username="demo", password="demo-password").start_in_thread()
    try:
        (tmp_path / "inbox").mkdir()
        (tmp_path / "inbox" / "x.csv").write_text("hello")
        settings = SftpSettings(
            host=srv.host,
            port=srv.port,
            username="demo",
            private_key=srv.client_private_key,
            host_key=srv.host_key_line,
            min_file_age=0,
        )
        port = srv.port

        async def client() -> list[str]:
            async with SftpSource(settings) as src:
                return [f.path for f in await src.list_ready("/inbox")]

        assert asyncio.run(client()) == ["/inbox/x.csv"]
        srv.stop(keep_thread=True)  # outage, then back on the same port with the same key
        with pytest.raises(TransientSourceError):
            asyncio.run(client())
        srv.start_in_thread()
        assert srv.port == port
        assert asyncio.run(client()) == ["/inbox/x.csv"]
    finally:
        srv.stop()
    assert srv._thread is None


def test_cli_sftp_fingerprint(tmp_path: Path) -> None:
    srv = EmbeddedSftpServer(tmp_path).start_in_thread()
    try:
        result = CliRunner().invoke(app, ["sftp", "fingerprint", f"{srv.host}:{srv.port}"])
    finally:
        srv.stop()
    assert result.exit_code == 0, result.output
    assert srv.host_key_line in result.output
    assert srv.host_key_fingerprint in result.output


def test_cli_sim_sftp_prints_working_credentials(tmp_path: Path) -> None:
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from ml_connector.entrypoints.cli import main; main()",
        "sim",
        "sftp",
        "--port",
        str(port),
        "--root",
        str(tmp_path),
        "--seed",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.partition(":")
            lines[key.strip()] = value.strip()
            if key == "folders":
                break
        settings = SftpSettings(
            host="127.0.0.1",
            port=port,
            username=lines["username"],
            password=lines["password"],
            host_key=lines["host_key"],
            min_file_age=0,
        )

        async def client() -> list[str]:
            async with SftpSource(settings) as src:
                return [f.name for f in await src.list_ready("/outbound/invoices")]

        names = asyncio.run(client())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert lines["fingerprint"].startswith("SHA256:")
    assert Path(lines["client key"]).name == "client_ed25519"
    assert not Path(lines["client key"]).exists()  # removed on shutdown
    assert names and all(n.startswith("stampli_invoices_") for n in names)
    assert proc.returncode == 0


def test_refused_port_gives_up_within_seconds_naming_host_port_and_key(tmp_path: Path) -> None:
    """A wrong SFTP port (issue 13 point 8): a few quick tries, each said on stderr, then an error
    naming the host, the port and the configuration key, within seconds (the real policy, as a
    user runs `run`; Visma is the simulator, so only the SFTP side fails)."""
    from types import SimpleNamespace

    from ml_connector.sim.visma import SimulatorOptions, SimulatorServer
    from tests.web.conftest import SFTP_ENV, VISMA_ENV, _config

    port = free_port()  # nothing listens here
    sftp = SimpleNamespace(host="127.0.0.1", port=port, username="u", host_public_key="SHA256:" + "A" * 43)
    sim = SimulatorServer(SimulatorOptions(seed="demo", client_secret="v" * 12)).start_in_thread()
    config = tmp_path / "ml-connector.toml"
    config.write_text(_config(sftp, sim), encoding="utf-8")  # type: ignore[arg-type]
    env = {**os.environ, SFTP_ENV: "p" * 8, VISMA_ENV: "v" * 12}
    env.pop("ML_CONNECTOR_DATABASE_URL", None)
    try:
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("ml-connector")), "run", "-c", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        took = time.monotonic() - started
    finally:
        sim.stop()
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "connection refused" in said and f"port {port}" in said and "127.0.0.1" in said, said
    assert "connections.acme.sftp.port" in said, said
    assert done.stderr.count("connection refused (try") >= 2, done.stderr  # says what it is doing
    assert took < 15, f"gave up after {took:.1f}s"  # was 56 s before


async def test_refused_before_any_session_does_not_wait_for_the_slow_policy() -> None:
    """Before the first session a refusal gives up fast. After one (test_source.py
    test_server_killed_mid_download_completes_after_backoff) it is retried like any drop."""
    settings = SftpSettings(
        host="127.0.0.1", port=free_port(), username="u", password="p" * 8, host_key="SHA256:" + "A" * 43
    )
    started = time.monotonic()
    with pytest.raises(TransientSourceError, match=r"connection refused.*gave up after 4 tries") as info:
        async with SftpSource(settings, policy=RetryPolicy(attempts=3, base_delay=30, total_timeout=300)):
            pass
    assert "sftp.host and sftp.port" in str(info.value)
    assert time.monotonic() - started < 10  # never waited for the slow policy's 30 s
