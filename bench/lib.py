"""What the benchmarks and the chaos run share: a real OpenSSH SFTP server, the Visma simulator in its
own process, a connection's TOML configuration and generated Stampli exports with unique ids.

The OpenSSH recipe is the one in tests/support/openssh.py (shared/docs/stack.md §4), reduced to what
the benchmarks need and without pytest: a throwaway user ``mlcbench<pid>``, a chroot under /srv,
its own host key and port. It needs root and /usr/sbin/sshd (``./dev test`` installs it).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import httpx2

from ml_connector.demo.generate import INVOICE_COLUMNS, PAYMENT_COLUMNS, generate

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = Path(sys.executable).with_name("ml-connector")
SSHD = Path("/usr/sbin/sshd")
USER_PREFIX = "mlcbench"
SFTP_ENV = "MLC_BENCH_SFTP_PASSWORD"
VISMA_ENV = "MLC_BENCH_VISMA_SECRET"
OUR_PREFIXES = ("ST-", "SP-", "SPV-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _reap_stale_users() -> None:
    for entry in pwd.getpwall():
        name = entry.pw_name
        if name.startswith(USER_PREFIX) and name[len(USER_PREFIX) :].isdigit():
            pid = int(name[len(USER_PREFIX) :])
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                subprocess.run(["userdel", name], capture_output=True, check=False)


class OpenSsh:
    """Debian's sshd, internal-sftp chrooted to a fresh folder under /srv, on a loopback port."""

    def __init__(self) -> None:
        if not SSHD.exists():
            raise SystemExit("/usr/sbin/sshd is missing: apt-get install openssh-server openssh-client")
        if os.geteuid() != 0:
            raise SystemExit("the SFTP benchmarks start their own sshd and must run as root")
        _reap_stale_users()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.state = Path(tempfile.mkdtemp(prefix="ml-connector-bench-sshd-"))
        self.state.chmod(0o755)
        keys = self.state / "keys"
        auth = self.state / "authorized_keys"
        keys.mkdir()
        auth.mkdir()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(keys / "host_ed25519")],
            check=True,
        )
        self.host_public_key = " ".join((keys / "host_ed25519.pub").read_text().split()[:2])
        client = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_path = keys / "client_ed25519"
        self.client_key_path.write_text(client.export_private_key("openssh").decode())
        self.client_key_path.chmod(0o600)
        self.user = f"{USER_PREFIX}{os.getpid()}"
        self.password = "pw-" + secrets.token_urlsafe(12)
        self.root = Path(tempfile.mkdtemp(prefix="ml-connector-bench-sftp-", dir="/srv"))
        self.root.chmod(0o755)
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", "/", "--shell", "/usr/sbin/nologin", self.user],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["chpasswd"], input=f"{self.user}:{self.password}".encode(), check=True, capture_output=True
        )
        (auth / self.user).write_text(client.export_public_key("openssh").decode())
        self.uid = pwd.getpwnam(self.user).pw_uid
        self.host = "127.0.0.1"
        self.port = free_port()
        self.known_hosts = self.state / "known_hosts"
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {self.host_public_key}\n")
        self.config_path = self.state / "sshd_config"
        self.config_path.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}",
                    f"HostKey {keys / 'host_ed25519'}",
                    f"PidFile {self.state / 'sshd.pid'}",
                    f"AuthorizedKeysFile {auth}/%u",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin no",
                    f"AllowUsers {self.user}",
                    "MaxStartups 100:30:200",
                    "Subsystem sftp internal-sftp",
                    f"Match User {self.user}",
                    f"    ChrootDirectory {self.root}",
                    "    ForceCommand internal-sftp -d /",
                    "    AllowTcpForwarding no",
                    "    X11Forwarding no",
                    "    PermitTTY no",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.drops = 0
        self.start()

    def start(self) -> None:
        with (self.state / "sshd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-f", str(self.config_path), "-D", "-e", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {(self.state / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not start listening")

    def drop_connections(self) -> int:
        """SIGKILL every per-connection sshd (the listener stays): clients see a dropped connection."""
        if self.proc is None:
            return 0
        n = 0
        for pid in _descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                n += 1
        self.drops += 1 if n else 0
        return n

    def stop(self) -> None:
        if self.proc is not None:
            for pid in [*_descendants(self.proc.pid), self.proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None
        subprocess.run(["userdel", self.user], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)

    def mkdir(self, rel: str) -> Path:
        path = self.root / rel.strip("/")
        path.mkdir(parents=True, exist_ok=True)
        p = path
        while p != self.root:
            os.chown(p, self.uid, self.uid)
            p = p.parent
        return path

    def put(self, rel_folder: str, name: str, data: str | bytes, *, mtime: float | None = None) -> Path:
        """A file as Stampli leaves it: finished long ago, readable by the SFTP user."""
        path = self.mkdir(rel_folder) / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8", newline="")
        else:
            path.write_bytes(data)
        os.chown(path, self.uid, self.uid)
        stamp = mtime if mtime is not None else time.time() - 3600
        os.utime(path, (stamp, stamp))
        return path


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
        deadline = time.monotonic() + 30
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


def references_in_visma(journal: list[dict[str, Any]]) -> dict[str, int]:
    """Our reference -> the number of batches that carry it."""
    counts: dict[str, int] = {}
    for batch in journal:
        for ref in {ln.get("referenceNumber") for ln in batch.get("journalTransactionLines", [])}:
            if isinstance(ref, str) and ref.startswith(OUR_PREFIXES):
                counts[ref] = counts.get(ref, 0) + 1
    return counts


# ------------------------------------------------------------------------------------------ connection


@dataclass
class Connection:
    """One configured connection: the TOML file, its ledger and the environment holding its secrets."""

    workdir: Path
    sftp: OpenSsh
    sim: SimProcess
    remote_root: str
    release: bool = True
    name: str = "bench"
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
        info = self.sim.info
        self.config_path.write_text(
            f"""ledger_url = "{self.ledger_url}"

[log]
level = "ERROR"

[connections.{self.name}]
stampli_company_id = "C100234"
profile = "canonical"

[connections.{self.name}.sftp]
host = "{self.sftp.host}"
port = {self.sftp.port}
username = "{self.sftp.user}"
password = "env:{SFTP_ENV}"
host_key = "{self.sftp.host_public_key}"
invoices_folder = "{self.remote_root}/invoices"
payments_folder = "{self.remote_root}/payments"
min_file_age = 0
connect_timeout = 10

[connections.{self.name}.visma]
api_url = "{info["api_url"]}"
token_url = "{info["token_url"]}"
client_id = "{info["client_id"]}"
client_secret = "env:{VISMA_ENV}"
tenant_id = "{info["tenant_id"]}"
company_id = "{info["company_id"]}"
timeout = 10

[connections.{self.name}.mapping]
credit_account = "2460"
cost_center_field = "department"
cost_center_segment_id = 1
cost_center_length = 4
default_bank_account = "1920"

[connections.{self.name}.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.{self.name}.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.{self.name}.mapping.bank_accounts]
"DNB-1503.12.34567" = "1920"
"DNB-EUR-1503.99.12345" = "1921"
"SEB-5000.00.58398" = "1920"

[connections.{self.name}.posting]
release = {"true" if self.release else "false"}
closed_period_policy = "park"
""",
            encoding="utf-8",
        )

    def put(self, kind: str, name: str, text: str, *, mtime: float | None = None) -> Path:
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
