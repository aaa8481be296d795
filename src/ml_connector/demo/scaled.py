"""``ml-connector demo --workers N --database URL``: the demo in the scaled-out mode.

The same story as ``demo/run.py`` (an export with five invoices on a cost center Visma lacks, the
cost center created, a payment void), but the work is done by N ``ml-connector worker`` processes
over the given PostgreSQL database, as on N machines: their scheduler tick starts the connection's
poll cycle, the cycle defers the pending documents as posting jobs, and every worker takes some.

The connection gets a fresh name per run (``demo_<hex>``) so that the demo can run again on the same
database; the SFTP server and the Visma simulator are fresh per run anyway.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector import service
from ml_connector.demo.generate import create_missing_cost_center
from ml_connector.demo.run import (
    KEY_FILE,
    SFTP_ENV,
    VAULT_FILE,
    VISMA_ENV,
    _config_text,
    _write,
    books_outcome,
    stage_export,
    start_servers,
)
from ml_connector.errors import ConnectorError
from ml_connector.ledger.schema import audit, documents
from ml_connector.redaction import redact_url
from ml_connector.scale.worker import sqlalchemy_url, upgrade
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma.server import SimulatorServer
from ml_connector.vault import FileBackend, FileKeySource, Vault, generate_key

OPEN = ("pending", "posting", "unknown", "created")


def _scaled_config(sftp: EmbeddedSftpServer, sim: SimulatorServer, name: str) -> str:
    text = _config_text(sftp, sim).replace("[connections.demo", f"[connections.{name}")
    return text.replace("poll_interval = 300\n", "poll_interval = 5\nallow_fast_poll = true\n", 1)


class DemoFleet:
    def __init__(self, work: Path, database_url: str, config: Path, env: dict[str, str], name: str) -> None:
        self.work = work
        self.url = database_url
        self.config = config
        self.env = env
        self.name = name
        self.procs: list[subprocess.Popen[bytes]] = []
        self.engine = sa.create_engine(database_url)

    def start(self, n: int) -> None:
        for i in range(n):
            log = (self.work / f"worker-{i}.log").open("wb")
            argv = [sys.executable, "-m", "ml_connector", "worker", "--database", self.url]
            argv += ["--config", str(self.config), "--tick", "1", "--concurrency", "4", "--chunk-size", "10"]
            self.procs.append(
                subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
            )
            log.close()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.engine.dispose()

    def counts(self) -> dict[str, int]:
        q = (
            sa.select(documents.c.status, sa.func.count())
            .where(documents.c.connection == self.name)
            .group_by(documents.c.status)
        )
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(q)}

    def kinds(self) -> dict[str, int]:
        q = (
            sa.select(documents.c.kind, sa.func.count())
            .where(documents.c.connection == self.name)
            .group_by(documents.c.kind)
        )
        with self.engine.connect() as conn:
            return {str(k): int(n) for k, n in conn.execute(q)}

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 600) -> float:
        started = time.monotonic()
        while not done():
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise ConnectorError(f"a worker exited ({dead[0].returncode}); see {self.work}/worker-*.log")
            if time.monotonic() - started > timeout:
                raise ConnectorError(f"demo: timed out waiting for {what}: {self.counts()}")
            time.sleep(0.25)
        return time.monotonic() - started

    def posted_by_worker(self) -> dict[str, int]:
        """Documents per worker: the actor of each document's one transition to ``posted``."""
        q = (
            sa.select(audit.c.actor, sa.func.count())
            .where(
                audit.c.connection == self.name, audit.c.entity == "document", audit.c.to_status == "posted"
            )
            .group_by(audit.c.actor)
        )
        with self.engine.connect() as conn:
            return {str(a).removeprefix("worker:"): int(n) for a, n in conn.execute(q)}

    def audit_count(self, action: str) -> int:
        q = sa.select(sa.func.count()).where(audit.c.connection == self.name, audit.c.action == action)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


async def run_scaled_demo(
    n_invoices: int = 200, *, workers: int, database_url: str, keep: bool = False
) -> dict[str, Any]:
    url = sqlalchemy_url(database_url)
    upgrade(url)
    work = Path(tempfile.mkdtemp(prefix="ml-connector-demo-"))
    name = f"demo_{secrets.token_hex(3)}"
    export, stampli_root = stage_export(work, n_invoices)
    sftp, sim = start_servers(stampli_root)
    fleet: DemoFleet | None = None
    app: service.App | None = None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
        env["ML_CONNECTOR_DATABASE_URL"] = url
        env["ML_CONNECTOR_SETTLE_AFTER"] = "0"
        env.pop(SFTP_ENV, None)
        env.pop(VISMA_ENV, None)
        key_source = FileKeySource(work / KEY_FILE)  # mode 0600, named by the configuration
        key_source.write((generate_key(),))
        vault = Vault(FileBackend(work / VAULT_FILE), key_source)
        vault.set("demo_sftp_password", sftp.password)
        vault.set("demo_visma_secret", sim.client_secret)
        config_path = work / "ml-connector.toml"
        config_path.write_text(_scaled_config(sftp, sim, name), encoding="utf-8")
        fleet = DemoFleet(work, url, config_path, env, name)
        started = time.monotonic()
        fleet.start(workers)
        documents_1 = len(export.invoices) + export.payments
        first = fleet.wait(
            "the first export to be posted",
            lambda: (
                sum(fleet.counts().values()) >= documents_1
                and not any(fleet.counts().get(s, 0) for s in OPEN)
            ),
        )
        after_first = fleet.counts()
        create_missing_cost_center(sim.api_url)
        _write(stampli_root / "outbound" / "payments", export.voids_csv)
        n_voids = len(export.voids_csv and export.voids_csv[0][1].splitlines()[1:])
        second = fleet.wait(
            "the replays and the void",
            lambda: (
                fleet.kinds().get("payment_void", 0) >= n_voids
                and fleet.counts().get("parked", 0) == 0
                and not any(fleet.counts().get(s, 0) for s in OPEN)
            ),
        )
        app = service.open_app(config_path, environ=env, settle_after=timedelta(0))
        rt = app.runtime(name, actor="demo")
        _, books = await books_outcome(rt, sim.api_url, fleet.counts())
        by_worker = fleet.posted_by_worker()
        return {
            "mode": "workers",
            "database": redact_url(database_url, keep_user=True),
            "connection": name,
            "workers": workers,
            "workers_that_posted": sum(1 for n in by_worker.values() if n > 0),
            "posted_by_worker": by_worker,
            "invoices": len(export.invoices),
            "payments": export.payments,
            "payment_voids": n_voids,
            "posted_first_cycle": after_first.get("posted", 0),
            "parked_first_cycle": after_first.get("parked", 0),
            "replayed": fleet.audit_count("replayed"),
            **books,
            "seconds": {
                "first_cycle": round(first, 2),
                "second_cycle": round(second, 2),
                "total": round(time.monotonic() - started, 2),
            },
            "errors": [],
            "workdir": str(work) if keep else None,
        }
    finally:
        if fleet is not None:
            fleet.stop()
        if app is not None:
            app.close()
        sim.stop()
        sftp.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
