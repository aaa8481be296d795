"""The packaged Stampli samples on the embedded SFTP server, the Visma simulator (seed ``demo``) and a
configuration for them: the newcomer's world, for tests that run the CLI as a user does.

``sample_world(root, files)`` yields a ``SampleWorld`` whose ``cli(...)`` runs the console script
against it; ``files`` are (kind, name) pairs from ``src/ml_connector/samples``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma import SimulatorOptions, SimulatorServer
from tests.web.conftest import SFTP_ENV, VISMA_ENV, _config

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "ml_connector" / "samples"
CONSOLE = Path(sys.executable).with_name("ml-connector")
INVOICES_CSV = ("invoices", "stampli_invoices_C100234_20250310T071500Z_0001.csv")
INVOICES_XML = ("invoices", "stampli_invoices_C100234_20250310T071500Z_0001.xml")
PAYMENTS_CSV = ("payments", "stampli_payments_C100234_20250404T053000Z_0001.csv")


@dataclass
class SampleWorld:
    work: Path
    stampli: Path
    config: Path
    env: dict[str, str]
    sftp: EmbeddedSftpServer
    sim: SimulatorServer

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSOLE), *args, "--config", str(self.config)],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.work,
        )


@contextmanager
def sample_world(root: Path, files: list[tuple[str, str]]) -> Iterator[SampleWorld]:
    stampli = root / "stampli"
    old = time.time() - 600
    for kind in ("invoices", "payments"):
        (stampli / "outbound" / kind).mkdir(parents=True, exist_ok=True)
    for n, (kind, name) in enumerate(files):
        folder = stampli / "outbound" / kind
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        target.write_bytes((SAMPLES / name).read_bytes())
        os.utime(target, (old + n, old + n))  # listed and read in the given order
    sftp_password, visma_secret = "s-" + secrets.token_urlsafe(10), "v-" + secrets.token_urlsafe(10)
    sftp = EmbeddedSftpServer(stampli, password=sftp_password).start_in_thread()
    sim = SimulatorServer(SimulatorOptions(seed="demo", client_secret=visma_secret)).start_in_thread()
    try:
        work = root / "connector"
        work.mkdir()
        config = work / "ml-connector.toml"
        config.write_text(_config(sftp, sim), encoding="utf-8")
        env = {**os.environ, SFTP_ENV: sftp_password, VISMA_ENV: visma_secret}
        env.pop("ML_CONNECTOR_CONFIG", None)
        env.pop("COLUMNS", None)
        yield SampleWorld(work, stampli, config, env, sftp, sim)
    finally:
        sim.stop()
        sftp.stop()
