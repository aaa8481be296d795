"""What the benchmarks and the chaos run share: a real OpenSSH SFTP server, the Visma simulator in its
own process, a connection's TOML configuration and generated Stampli exports with unique ids.

The OpenSSH server and the configuration text are the tests' own (tests/support/sshd.py and
tests/support/connection_toml.py; the benchmarks run from the repository root, where ``tests`` is a
package): a throwaway user ``mlcbench<pid>``, a chroot under /srv, its own host key and port. It
needs root and /usr/sbin/sshd (``./dev test`` installs it).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from tests.support.connection_toml import connection_toml
from tests.support.sshd import OpenSshServer, create_server, free_port, unavailable_reason

from ml_connector.demo.generate import INVOICE_COLUMNS, PAYMENT_COLUMNS, generate

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = Path(sys.executable).with_name("ml-connector")
USER_PREFIX = "mlcbench"
SFTP_ENV = "MLC_BENCH_SFTP_PASSWORD"
VISMA_ENV = "MLC_BENCH_VISMA_SECRET"
OUR_PREFIXES = ("ST-", "SP-", "SPV-")


def machine() -> dict[str, Any]:
    """What the figures ran on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_gib, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# ------------------------------------------------------------------------------------------ OpenSSH


def start_openssh() -> OpenSshServer:
    """The tests' throwaway sshd (tests/support/sshd.py), with room for many connections at once."""
    reason = unavailable_reason()
    if reason:
        raise SystemExit(reason)
    server = create_server(
        user_prefix=USER_PREFIX, tmp_prefix="ml-connector-bench-", max_startups="100:30:200"
    )
    server.start()
    return server


# ------------------------------------------------------------------------------------------ simulator


class SimProcess:
    """``ml-connector sim visma`` in its own process (it must not share the connector's GIL)."""

    def __init__(
        self, workdir: Path, *, rate_limit: str | None = None, faults: str | None = None, seed: str = "demo"
    ) -> None:
        self.port = free_port()
        self.secret = "sim-" + secrets.token_urlsafe(12)
        argv = [
            str(CONSOLE),
            "sim",
            "visma",
            "--port",
            str(self.port),
            "--seed",
            seed,
            "--client-secret",
            self.secret,
        ]
        if rate_limit:
            argv += ["--rate-limit", rate_limit]
        if faults:
            argv += ["--faults", faults]
        self.log_path = workdir / f"sim-{self.port}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.http = httpx2.Client(base_url=self.api_url, timeout=120, trust_env=False)
        deadline = time.monotonic() + 120  # a loaded 2-core machine takes long to import the app
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited: {self.log_path.read_text()[-2000:]}")
            try:
                self.info: dict[str, Any] = self.http.get("/_sim/config").json()
                break
            except httpx2.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/_sim/stats").json()
        return data

    def reset_stats(self) -> None:
        self.http.post("/_sim/stats/reset").raise_for_status()

    def journal(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.http.get("/_sim/journal").json()
        return data

    def supplier_documents(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.http.get("/_sim/supplier-ledger").json()["documents"]
        return data

    def supplier_payments(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.http.get("/_sim/supplier-payments").json()["payments"]
        return data

    def set_faults(self, spec: str, *, reset: bool = True) -> None:
        self.http.post("/_sim/faults", json={"spec": spec, "reset": reset}).raise_for_status()

    def set_rate_limit(self, spec: str) -> None:
        self.http.post("/_sim/rate-limit", json={"spec": spec}).raise_for_status()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def references_in_visma(
    journal: list[dict[str, Any]],
    supplier_documents: Sequence[dict[str, Any]] = (),
    supplier_payments: Sequence[dict[str, Any]] = (),
) -> dict[str, int]:
    """Our reference -> the number of batches, of supplier documents (our reference opens their
    description) and of supplier payments (type Payment, our reference in paymentRef) that carry it."""
    counts: dict[str, int] = {}
    for batch in journal:
        for ref in {ln.get("referenceNumber") for ln in batch.get("journalTransactionLines", [])}:
            if isinstance(ref, str) and ref.startswith(OUR_PREFIXES):
                counts[ref] = counts.get(ref, 0) + 1
    for doc in supplier_documents:
        ref = str(doc.get("description") or "").split(" ", 1)[0]
        if ref.startswith(OUR_PREFIXES):
            counts[ref] = counts.get(ref, 0) + 1
    for pay in supplier_payments:
        ref = str(pay.get("paymentRef") or "")
        if pay.get("type") == "Payment" and ref.startswith(OUR_PREFIXES):
            counts[ref] = counts.get(ref, 0) + 1
    return counts


# ------------------------------------------------------------------------------------------ ledger


API = ("/v1/", "/v2/")  # the simulator counts requests by route template, e.g. "POST /v2/journaltransaction"


def api_calls(stats: dict[str, Any]) -> int:
    """Visma API requests the simulator answered (token and /_sim/ requests excluded)."""
    return sum(n for key, n in stats["requests"].items() if key.split(" ", 1)[1].startswith(API))


# ------------------------------------------------------------------------------------------ connection


@dataclass
class Connection:
    """One configured connection: the TOML file, its ledger and the environment holding its secrets."""

    workdir: Path
    sftp: OpenSshServer
    sim: SimProcess
    remote_root: str
    release: bool = True
    name: str = "bench"
    target: str = "journal"  # posting.target: journal | supplier_invoice
    config_path: Path = field(init=False)
    environ: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for kind in ("invoices", "payments"):
            self.sftp.mkdir(f"{self.remote_root}/{kind}")
        self.config_path = self.workdir / "ml-connector.toml"
        self.write()
        self.environ = {
            **os.environ,
            SFTP_ENV: self.sftp.password,
            VISMA_ENV: self.sim.secret,
            "ML_CONNECTOR_SETTLE_AFTER": "0",
            "COLUMNS": "200",
        }
        for var in ("ML_CONNECTOR_CRASH_AT", "ML_CONNECTOR_CONFIG", "ML_CONNECTOR_DATABASE_URL"):
            self.environ.pop(var, None)

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.workdir / 'ledger.db'}"

    def write(self) -> None:
        text = connection_toml(
            name=self.name,
            sftp=self.sftp,
            remote_root=self.remote_root,
            visma=self.sim.info,
            sftp_password_env=SFTP_ENV,
            visma_secret_env=VISMA_ENV,
            ledger_url=self.ledger_url,
            log_level="ERROR",
            release=self.release,
            target=self.target,
        )
        self.config_path.write_text(text, encoding="utf-8")

    def put(self, kind: str, name: str, text: str | bytes, *, mtime: float | None = None) -> Path:
        return self.sftp.put(f"{self.remote_root}/{kind}", name, text, mtime=mtime)

    def cli_argv(self, *args: str) -> list[str]:
        return [str(CONSOLE), *args, "--config", str(self.config_path)]


# ------------------------------------------------------------------------------------------ exports


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _csv(columns: list[str], rows: Iterable[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class Batch:
    """One generated Stampli export with ids unique to its ``tag`` (a round number)."""

    invoice_files: list[tuple[str, str]]
    payment_files: list[tuple[str, str]]
    expected: set[str]  # references that must be in Visma exactly once
    not_approved: set[str]  # references that must never be in Visma


def make_batch(
    n_invoices: int, tag: int, *, seed: int = 2025, not_approved: float = 0.0, per_file: int = 100
) -> Batch:
    """``generate(n)`` with ids, numbers and file names made unique for ``tag``.

    ``not_approved``: share of the unpaid invoices exported as PENDING (never posted)."""
    export = generate(n_invoices, seed=seed + tag, missing=0, per_file=per_file)
    inv_id = {f"{42000000 + i}": f"{tag + 1:04d}{i:06d}" for i in range(n_invoices)}
    pay_rows = [r for _, text in export.payments_csv for r in _rows(text)]
    paid = {r["stampliInvoiceId"] for r in pay_rows}
    rng_pick = sorted(i for i in inv_id if i not in paid)
    step = int(1 / not_approved) if not_approved > 0 else 0
    pending = set(rng_pick[::step]) if step else set()
    stamp = datetime(2025, 3, 31, 7, 15, tzinfo=UTC) + timedelta(minutes=tag)
    ts = stamp.strftime("%Y%m%dT%H%M%SZ")
    invoice_files: list[tuple[str, str]] = []
    expected: set[str] = set()
    skipped: set[str] = set()
    for seq, (_, text) in enumerate(export.invoices_csv, start=1):
        rows = _rows(text)
        for row in rows:
            old = row["stampliInvoiceId"]
            row["stampliInvoiceId"] = inv_id[old]
            row["stampliLink"] = f"https://app.stampli.com/link/{inv_id[old]}"
            row["invoiceNumber"] = f"{row['invoiceNumber']}-{tag}"
            if old in pending:
                row["approvalStatus"] = "PENDING"
                skipped.add(f"ST-{inv_id[old]}")
            else:
                expected.add(f"ST-{inv_id[old]}")
        invoice_files.append((f"stampli_invoices_C100234_{ts}_{seq:04d}.csv", _csv(INVOICE_COLUMNS, rows)))
    for k, row in enumerate(pay_rows):
        row["stampliPaymentId"] = f"9{tag + 1:04d}{k:06d}"
        row["paymentNumber"] = f"PMT-{tag}-{k:06d}"
        row["invoiceNumber"] = f"{row['invoiceNumber']}-{tag}"
        row["stampliInvoiceId"] = inv_id[row["stampliInvoiceId"]]
        expected.add(f"SP-{row['stampliPaymentId']}")
    payment_files = [(f"stampli_payments_C100234_{ts}_0001.csv", _csv(PAYMENT_COLUMNS, pay_rows))]
    return Batch(invoice_files, payment_files, expected, skipped)
