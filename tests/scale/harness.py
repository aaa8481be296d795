"""A fleet for the scale-out tests: N connections on a real sshd, Visma simulators, one PostgreSQL,
and `ml-connector worker` processes started (and killed) as an operator would.

Each connection is its own Stampli company (``C2000NN``) with its own SFTP folder tree and its own
invoice and payment ids, so the documents of twenty connections stay distinguishable even when
several connections post into the same simulator company; connections alternate between the
simulators (each simulator is one Visma rate window shared by its connections and all workers).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector.demo.generate import COMPANY, generate
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

CONSOLE = Path(sys.executable).with_name("ml-connector")
SFTP_ENV = "MLC_SCALE_SFTP_PASSWORD"
OUR_PREFIXES = ("ST-", "SP-", "SPV-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rewrite(text: str, ids: dict[str, str], company: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if not rows:
        return text
    columns = list(rows[0])
    for row in rows:
        for col in columns:
            value = row[col]
            if col == "stampliCompanyId":
                row[col] = company
            elif value in ids:
                row[col] = ids[value]
            elif col == "stampliLink":
                row[col] = value.rsplit("/", 1)[0] + "/" + ids.get(value.rsplit("/", 1)[1], "x")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class Company:
    """One connection's Stampli export: files and the references it must produce in Visma."""

    index: int
    name: str
    company: str
    invoices: list[tuple[str, str]]
    payments: list[tuple[str, str]]
    expected: dict[str, Decimal]

    @classmethod
    def make(cls, index: int, n_invoices: int) -> Company:
        export = generate(n_invoices, seed=1000 + index, missing=0)
        company = f"C2{index:05d}"
        ids: dict[str, str] = {}
        for inv in export.invoices:
            ids[inv.invoice_id] = str(60_000_000 + index * 10_000 + int(inv.invoice_id) % 10_000)
        pay_ids = [
            row["stampliPaymentId"]
            for _, text in export.payments_csv
            for row in csv.DictReader(io.StringIO(text, newline=""))
        ]
        for pid in pay_ids:
            ids[pid] = str(70_000_000 + index * 10_000 + int(pid) % 10_000)
        invoices = [(n.replace(COMPANY, company), _rewrite(t, ids, company)) for n, t in export.invoices_csv]
        payments = [(n.replace(COMPANY, company), _rewrite(t, ids, company)) for n, t in export.payments_csv]
        expected: dict[str, Decimal] = {}
        for _, text in invoices:
            for row in csv.DictReader(io.StringIO(text, newline="")):
                if row["approvalStatus"] == "APPROVED":
                    expected[f"ST-{row['stampliInvoiceId']}"] = abs(Decimal(row["totalAmount"]))
        for _, text in payments:
            for row in csv.DictReader(io.StringIO(text, newline="")):
                expected[f"SP-{row['stampliPaymentId']}"] = Decimal(row["paymentAmount"])
        return cls(index, f"c{index:02d}", company, invoices, payments, expected)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Fleet:
    workdir: Path
    database_url: str  # postgresql+psycopg://...
    sftp: OpenSshServer
    sims: list[VismaSim]
    companies: list[Company]
    poll_interval: int = 15
    tick: int = 1
    stalled_after: float = 4.0
    workers: list[Worker] = field(default_factory=list)
    engine: sa.engine.Engine = field(init=False)
    root: str = field(init=False)

    def __post_init__(self) -> None:
        self.engine = sa.create_engine(self.database_url)
        self.root = f"scale_{os.getpid()}_{int(time.time() * 1000) % 1_000_000}"

    # ---- set-up

    def sim_of(self, c: Company) -> VismaSim:
        return self.sims[c.index % len(self.sims)]

    def config_text(self) -> str:
        parts = ['[log]\nlevel = "INFO"\nformat = "json"\n']
        for c in self.companies:
            sim = self.sim_of(c)
            n = c.name
            parts.append(
                f"""
[connections.{n}]
stampli_company_id = "{c.company}"
poll_interval = {self.poll_interval}
allow_fast_poll = true

[connections.{n}.sftp]
host = "{self.sftp.host}"
port = {self.sftp.port}
username = "{self.sftp.user}"
password = "env:{SFTP_ENV}"
host_key = "{self.sftp.host_key_line.split(" ", 1)[1]}"
invoices_folder = "/{self.root}/{n}/invoices"
payments_folder = "/{self.root}/{n}/payments"
min_file_age = 0
connect_timeout = 10

[connections.{n}.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "env:MLC_SCALE_VISMA_SECRET_{c.index % len(self.sims)}"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"
timeout = 10

[connections.{n}.mapping]
credit_account = "2460"
default_bank_account = "1920"

[connections.{n}.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.{n}.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.{n}.mapping.bank_accounts]
"DNB-1503.12.34567" = "1920"
"DNB-EUR-1503.99.12345" = "1921"
"SEB-5000.00.58398" = "1920"
"""
            )
        return "".join(parts)

    @property
    def config_path(self) -> Path:
        return self.workdir / "ml-connector.toml"

    def setup(self) -> None:
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        stamp = time.time() - 3600
        for c in self.companies:
            for kind, files in (("invoices", c.invoices), ("payments", c.payments)):
                folder = self.sftp.mkdir(f"{self.root}/{c.name}/{kind}")
                for name, text in files:
                    path = folder / name
                    path.write_text(text, encoding="utf-8", newline="")
                    os.chown(path, self.sftp.uid, self.sftp.uid)
                    stamp += 1
                    os.utime(path, (stamp, stamp))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
        env[SFTP_ENV] = self.sftp.password
        for i, sim in enumerate(self.sims):
            env[f"MLC_SCALE_VISMA_SECRET_{i}"] = sim.client_secret
        env["ML_CONNECTOR_SETTLE_AFTER"] = "0"  # a dead worker's claims are looked up at once
        env["COLUMNS"] = "200"
        return env

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSOLE), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            check=False,
        )

    def start_worker(self, concurrency: int = 4) -> Worker:
        port = free_port()
        log_path = self.workdir / f"worker-{len(self.workers)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(CONSOLE), "worker", "--database", self.database_url,
                    "--config", str(self.config_path), "--concurrency", str(concurrency),
                    "--metrics-port", str(port), "--tick", str(self.tick),
                    "--stalled-after", str(self.stalled_after), "--chunk-size", "5",
                ],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )  # fmt: skip
        worker = Worker(proc, log_path, port)
        self.workers.append(worker)
        return worker

    def kill(self, worker: Worker) -> None:
        """SIGKILL, then reap it (a zombie's pid would still look alive to the claim check)."""
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)

    def stop_all(self) -> None:
        for w in self.workers:
            if w.alive():
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for w in self.workers:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(timeout=10)

    def close(self) -> None:
        self.stop_all()
        self.engine.dispose()

    # ---- observation

    def query(self, text: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(text), params))

    def status_counts(self) -> Counter[str]:
        return Counter(
            {str(s): int(n) for s, n in self.query("SELECT status, count(*) FROM documents GROUP BY 1")}
        )

    def expected_total(self) -> int:
        return sum(len(c.expected) for c in self.companies)

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if check():
                return time.monotonic() - started
            for w in self.workers:
                if w.proc.returncode is None and w.proc.poll() is not None:
                    raise AssertionError(f"worker {w.pid} exited ({w.proc.returncode}):\n{self.tail(w)}")
            time.sleep(every)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}; documents {dict(self.status_counts())}\n"
            + "\n".join(self.tail(w, 15) for w in self.workers)
        )

    def tail(self, worker: Worker, lines: int = 40) -> str:
        try:
            text = worker.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return f"--- worker {worker.pid}:\n" + "\n".join(text)

    def log_records(self, worker: Worker) -> list[dict[str, Any]]:
        out = []
        for line in worker.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    @staticmethod
    def assert_exactly_once(sim: VismaSim, expected: dict[str, Decimal]) -> None:
        """Every expected reference on exactly one batch of ``sim``, debit and credit equal to the
        source amount; no other reference of ours."""
        found: dict[str, list[dict[str, Any]]] = {}
        for batch in sim.journal():
            refs = {ln.get("referenceNumber") for ln in batch.get("journalTransactionLines", [])}
            for ref in refs:
                if isinstance(ref, str) and ref.startswith(OUR_PREFIXES):
                    found.setdefault(ref, []).append(batch)
        duplicates = {r: [b["batchNumber"] for b in bs] for r, bs in found.items() if len(bs) > 1}
        assert not duplicates, f"references on more than one Visma batch: {duplicates}"
        assert sorted(set(expected) - set(found)) == [], "documents lost (not in Visma)"
        assert sorted(set(found) - set(expected)) == [], "references that should not be there"
        for ref, amount in expected.items():
            lines = [
                ln for ln in found[ref][0]["journalTransactionLines"] if ln.get("referenceNumber") == ref
            ]
            debit = sum((Decimal(str(ln["debitAmountInCurrency"])) for ln in lines), Decimal(0))
            credit = sum((Decimal(str(ln["creditAmountInCurrency"])) for ln in lines), Decimal(0))
            assert debit == amount and credit == amount, (ref, amount, debit, credit)


def head_revision() -> str:
    """The newest ledger migration, which ``db upgrade`` reports (not a number frozen in a test)."""
    from alembic.script import ScriptDirectory

    from ml_connector.ledger.store import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head
