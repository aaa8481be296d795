"""Leak test: known secrets go in through the vault and the environment; the demo and every CLI
command run as a user runs them (subprocesses, DEBUG logs to a file); then every byte of output,
log, ledger (with its WAL), vault and work folder is searched for them, plain and base64."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector.demo.generate import generate
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma.server import SimulatorOptions, SimulatorServer
from tests.security.helpers import cli, cli_env, files_under, find_leaks

SFTP_PASSWORD = "Sftp-Known-Pa55word-7f3a9"
VISMA_SECRET = "Visma-Known-Client-Secret-c41d"
BAD_SFTP_PASSWORD = "Wrong-Sftp-Pa55-88e1b2"  # a secret too, even though the server refuses it
BAD_VISMA_SECRET = "Wrong-Visma-Secret-2b9f0a"
DEMO_SFTP = "Demo-Sftp-Known-9d0c11"
DEMO_VISMA = "Demo-Visma-Known-aa7e52"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedSftpServer, SimulatorServer]]:
    root = tmp_path_factory.mktemp("stampli")
    export = generate(12)
    folder = root / "outbound" / "invoices"
    folder.mkdir(parents=True)
    old = time.time() - 600
    for name, text in export.invoices_csv:
        (folder / name).write_text(text, encoding="utf-8", newline="")
        os.utime(folder / name, (old, old))
    (root / "outbound" / "payments").mkdir(parents=True)
    sftp = EmbeddedSftpServer(root, password=SFTP_PASSWORD).start_in_thread()
    sim = SimulatorServer(SimulatorOptions(seed="demo", client_secret=VISMA_SECRET)).start_in_thread()
    try:
        yield sftp, sim
    finally:
        sim.stop()
        sftp.stop()


def _connection(name: str, sftp: EmbeddedSftpServer, sim: SimulatorServer, password: str, secret: str) -> str:
    return f"""
[connections.{name}]
stampli_company_id = "C100234"
poll_interval = 300

[connections.{name}.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.username}"
password = "{password}"
host_key = "{sftp.host_public_key}"
min_file_age = 0

[connections.{name}.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "{secret}"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"

[connections.{name}.mapping]
credit_account = "2460"
default_bank_account = "1920"

[connections.{name}.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.{name}.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"
"""


def test_no_secret_in_any_output_log_ledger_or_file(
    tmp_path: Path, servers: tuple[EmbeddedSftpServer, SimulatorServer]
) -> None:
    sftp, sim = servers
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(BAD_SFTP_PASSWORD=BAD_SFTP_PASSWORD)
    config = work / "ml-connector.toml"
    config.write_text(
        '[log]\nlevel = "DEBUG"\nformat = "json"\nfile = "ml-connector.log"\n\n'
        '[vault]\npath = "secrets.vault"\nmaster_key_file = "master.key"\n'
        + _connection("good", sftp, sim, "vault:good_sftp", "vault:good_visma")
        + _connection("bad", sftp, sim, "env:BAD_SFTP_PASSWORD", "vault:bad_visma"),
        encoding="utf-8",
    )
    outputs: list[str] = []

    def run(*args: str, input: str | None = None, ok: bool | None = True) -> str:
        proc = cli(*args, "--config", str(config), env=env, input=input, cwd=work)
        outputs.extend([proc.stdout, proc.stderr])
        if ok is not None:
            assert (proc.returncode == 0) is ok, f"{args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc.stdout

    new = cli("secrets", "new-key", str(work / "master.key"), env=env, cwd=work)
    assert new.returncode == 0, new.stderr
    master_key = (work / "master.key").read_text().strip()
    run("secrets", "set", "good_sftp", input=SFTP_PASSWORD + "\n")
    run("secrets", "set", "good_visma", input=VISMA_SECRET)
    run("secrets", "set", "bad_visma", input=BAD_VISMA_SECRET + "\n")
    assert run("secrets", "list").count("key ") == 3
    run("secrets", "verify")

    cycles = {c["connection"]: c for c in json.loads(run("run", "--json", ok=None))}
    # the good connection posted; the bad one was refused: the error paths are searched too
    assert cycles["good"]["status"] == "ok" and cycles["good"]["posted"] > 0
    assert cycles["bad"]["status"] == "failed" and "invalid_client" in cycles["bad"]["errors"][0]
    run("status", "--json")
    run("status")
    run("failures", "--json", ok=None)
    run("failures", ok=None)
    run("check", "--json", ok=None)
    run("check", ok=None)
    run("secrets", "rotate")
    run("secrets", "verify")
    run("run", "--connection", "good", ok=None)

    # the demo, with known credentials, keeping its work folder under our tmp dir
    demo_tmp = tmp_path / "demo-tmp"
    demo_tmp.mkdir()
    demo_env = cli_env(
        TMPDIR=str(demo_tmp),
        ML_CONNECTOR_DEMO_SFTP_PASSWORD=DEMO_SFTP,
        ML_CONNECTOR_DEMO_VISMA_SECRET=DEMO_VISMA,
    )
    demo = cli("demo", "--invoices", "20", "--keep", env=demo_env, cwd=tmp_path, timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    outputs.extend([demo.stdout, demo.stderr])
    demo_json = cli("demo", "--invoices", "10", "--json", env=demo_env, cwd=tmp_path, timeout=180)
    assert demo_json.returncode == 0, demo_json.stderr
    outputs.extend([demo_json.stdout, demo_json.stderr])

    secrets = {
        "sftp password": SFTP_PASSWORD,
        "visma secret": VISMA_SECRET,
        "wrong sftp password": BAD_SFTP_PASSWORD,
        "wrong visma secret": BAD_VISMA_SECRET,
        "demo sftp password": DEMO_SFTP,
        "demo visma secret": DEMO_VISMA,
        "master key": master_key,
    }
    assert not find_leaks("\n".join(outputs).encode(), secrets)
    searched: list[str] = []
    for path in files_under(work, demo_tmp):
        if path.name == "master.key":  # the one place the master key lives (mode 0600)
            assert oct(path.stat().st_mode & 0o777) == "0o600"
            assert not find_leaks(path.read_bytes(), {k: v for k, v in secrets.items() if k != "master key"})
            continue
        searched.append(path.name)
        leaks = find_leaks(path.read_bytes(), secrets)
        assert not leaks, f"{path}: {leaks}"
    # the search covered what matters: the log (with debug lines), the ledgers, the vaults
    assert "ml-connector.log" in searched and "ml-connector.db" in searched
    assert "secrets.vault" in searched and "demo.vault" in searched
    log = (work / "ml-connector.log").read_text()
    assert '"level": "debug"' in log
    assert "secrets.vault" in searched
