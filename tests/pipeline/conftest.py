"""A full connection for the main-flow tests: real OpenSSH sshd, the Visma simulator over HTTP, a
TOML configuration with secrets by env reference, and the ledger on SQLite or PostgreSQL.

``connection_factory(sim=None, **posting)`` builds one; ``connection`` is the default (seed ``demo``,
no faults). Export files come from ``ml_connector.demo.generate`` and are cut into files per test
with ``Dataset``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ml_connector import retry, service
from ml_connector.demo.generate import IMAGE_COLUMN, INVOICE_COLUMNS, PAYMENT_COLUMNS, Export, generate
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from tests.support.connection_toml import VISMA_KEYS, connection_toml
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

SFTP_ENV = "MLC_TEST_SFTP_PASSWORD"
VISMA_ENV = "MLC_TEST_VISMA_SECRET"
OUR_PREFIXES = ("ST-", "SP-", "SPV-")
CONSOLE = Path(sys.executable).with_name("ml-connector")
JOURNAL_PATHS = ("/v2/journaltransaction",)


# ---------------------------------------------------------------------------------------- test data


def _csv(columns: list[str], rows: Iterable[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@dataclass
class Dataset:
    """A generated Stampli export, split by document so a test can cut its own files."""

    export: Export
    invoice_rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # invoice id -> rows
    payment_rows: list[dict[str, str]] = field(default_factory=list)
    void_rows: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def make(cls, n_invoices: int, *, missing: int = 0, seed: int = 2025, images: bool = False) -> Dataset:
        export = generate(n_invoices, seed=seed, missing=missing, images=images)
        ds = cls(export)
        for _, text in export.invoices_csv:
            for row in _rows(text):
                ds.invoice_rows.setdefault(row["stampliInvoiceId"], []).append(row)
        for _, text in export.payments_csv:
            ds.payment_rows += _rows(text)
        for _, text in export.voids_csv:
            ds.void_rows += _rows(text)
        return ds

    @property
    def invoice_ids(self) -> list[str]:
        return list(self.invoice_rows)

    @property
    def missing_ids(self) -> list[str]:
        return [i.invoice_id for i in self.export.invoices if i.missing_cost_center]

    @property
    def paid_ids(self) -> set[str]:
        return {r["stampliInvoiceId"] for r in self.payment_rows}

    def set_unapproved(self, invoice_id: str) -> None:
        for row in self.invoice_rows[invoice_id]:
            row["approvalStatus"] = "PENDING"

    def approved(self, invoice_id: str) -> bool:
        return self.invoice_rows[invoice_id][0]["approvalStatus"] == "APPROVED"

    def invoices_text(self, ids: Iterable[str]) -> str:
        columns = [*INVOICE_COLUMNS, IMAGE_COLUMN] if self.export.images else INVOICE_COLUMNS
        return _csv(columns, (row for i in ids for row in self.invoice_rows[i]))

    def image_of(self, invoice_id: str) -> tuple[str, bytes]:
        """(file name in images/, bytes) of a generated invoice's image (``make(images=True)``)."""
        at = self.invoice_ids.index(invoice_id)
        return self.export.images[at]

    def payments_text(self, rows: Iterable[dict[str, str]] | None = None) -> str:
        return _csv(PAYMENT_COLUMNS, self.payment_rows if rows is None else rows)

    def voids_text(self) -> str:
        return _csv(PAYMENT_COLUMNS, self.void_rows)

    def invoice_amount(self, invoice_id: str) -> Decimal:
        """What the voucher debits in total: the invoice total (a credit note's, unsigned)."""
        return abs(Decimal(self.invoice_rows[invoice_id][0]["totalAmount"]))

    def expected(
        self, invoice_ids: Iterable[str], *, payments: bool = True, voids: bool = False
    ) -> dict[str, Decimal]:
        """reference -> debit total of every document that must be in Visma exactly once."""
        out = {f"ST-{i}": self.invoice_amount(i) for i in invoice_ids if self.approved(i)}
        if payments:
            out.update(
                {f"SP-{r['stampliPaymentId']}": Decimal(r["paymentAmount"]) for r in self.payment_rows}
            )
        if voids:
            out.update({f"SPV-{r['stampliPaymentId']}": Decimal(r["paymentAmount"]) for r in self.void_rows})
        return out


# ---------------------------------------------------------------------------------------- the connection


@dataclass
class Connection:
    name: str
    workdir: Path
    sftp: OpenSshServer
    sim: VismaSim
    ledger_url: str
    remote_root: str  # the connection's folder on the SFTP server, e.g. "/t_e2e_sqlite_0"
    ledger_url_in_file: bool = True
    config_path: Path = field(init=False)
    environ: dict[str, str] = field(init=False)
    _apps: list[service.App] = field(default_factory=list)
    _stamp: float = field(default_factory=lambda: time.time() - 3600)

    def __post_init__(self) -> None:
        self.config_path = self.workdir / "ml-connector.toml"
        self.environ = {
            **os.environ,
            SFTP_ENV: self.sftp.password,
            VISMA_ENV: self.sim.client_secret,
            service.SETTLE_AFTER_ENV: "0",  # a crashed or ambiguous create is looked up in the next cycle
        }
        self.environ.pop("ML_CONNECTOR_CRASH_AT", None)
        self.environ.pop("ML_CONNECTOR_CONFIG", None)
        if not self.ledger_url_in_file:
            self.environ["ML_CONNECTOR_DATABASE_URL"] = self.ledger_url
        else:
            self.environ.pop("ML_CONNECTOR_DATABASE_URL", None)

    def write_config(
        self, *, release: bool = True, closed_period_policy: str = "park", require_image: bool = False
    ) -> None:
        text = connection_toml(
            name=self.name,
            sftp=self.sftp,
            remote_root=self.remote_root,
            visma={k: getattr(self.sim, k) for k in VISMA_KEYS},
            sftp_password_env=SFTP_ENV,
            visma_secret_env=VISMA_ENV,
            ledger_url=self.ledger_url if self.ledger_url_in_file else None,
            log_level="WARNING",
            release=release,
            closed_period_policy=closed_period_policy,
            require_image=require_image,
        )
        self.config_path.write_text(text, encoding="utf-8")

    # ---- files on the SFTP server

    def put(self, kind: str, name: str, text: str) -> Path:
        """Write an export file as Stampli would (finished long ago), readable by the SFTP user."""
        folder = self.sftp.root / self.remote_root.strip("/") / kind
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        os.chown(path, self.sftp.uid, self.sftp.uid)
        self._stamp += 1  # distinct, increasing mtimes in the past
        os.utime(path, (self._stamp, self._stamp))
        return path

    def put_invoices(self, name: str, text: str) -> Path:
        return self.put("invoices", name, text)

    def put_image(self, name: str, data: bytes, kind: str = "invoices") -> Path:
        """An invoice image in ``images/`` beside the exports of ``kind`` (finished long ago)."""
        folder = self.sftp.root / self.remote_root.strip("/") / kind / "images"
        if not folder.exists():
            folder.mkdir()
            os.chown(folder, self.sftp.uid, self.sftp.uid)
        path = folder / name
        path.write_bytes(data)
        os.chown(path, self.sftp.uid, self.sftp.uid)
        self._stamp += 1
        os.utime(path, (self._stamp, self._stamp))
        return path

    def put_payments(self, name: str, text: str) -> Path:
        return self.put("payments", name, text)

    # ---- in process

    def open_app(self, **runtime_options: Any) -> service.App:
        app = service.open_app(self.config_path, environ=self.environ, **runtime_options)
        self._apps.append(app)
        return app

    def close(self) -> None:
        for app in self._apps:
            app.close()
        self._apps.clear()

    # ---- as a user runs it

    def cli_env(self, crash_at: str | None = None) -> dict[str, str]:
        env = dict(self.environ)
        env["COLUMNS"] = "200"
        if crash_at:
            env["ML_CONNECTOR_CRASH_AT"] = crash_at
        return env

    def cli_argv(self, *args: str) -> list[str]:
        return [str(CONSOLE), *args, "--config", str(self.config_path)]

    def cli(
        self, *args: str, crash_at: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cli_argv(*args),
            env=self.cli_env(crash_at),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            check=False,
        )

    def popen(self, *args: str, crash_at: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.cli_argv(*args),
            env=self.cli_env(crash_at),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.workdir,
        )

    # ---- what Visma holds

    def batches_by_reference(self) -> dict[str, list[dict[str, Any]]]:
        """reference -> the batches carrying it (each batch once), for our references only."""
        out: dict[str, list[dict[str, Any]]] = {}
        for batch in self.sim.journal():
            refs = {ln.get("referenceNumber") for ln in batch.get("journalTransactionLines", [])}
            for ref in refs:
                if isinstance(ref, str) and ref.startswith(OUR_PREFIXES):
                    out.setdefault(ref, []).append(batch)
        return out

    def assert_exactly_once(self, expected: dict[str, Decimal]) -> None:
        """Every expected reference on exactly one batch with the source amount; nothing else of ours."""
        found = self.batches_by_reference()
        duplicates = {ref: [b["batchNumber"] for b in bs] for ref, bs in found.items() if len(bs) > 1}
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        assert not duplicates, f"references on more than one Visma batch: {duplicates}"
        assert not missing, f"documents lost (not in Visma): {missing}"
        assert not unexpected, f"references in Visma that should not be there: {unexpected}"
        wrong = {}
        for ref, amount in expected.items():
            batch = found[ref][0]
            debit = sum(
                (
                    Decimal(str(ln["debitAmountInCurrency"]))
                    for ln in batch["journalTransactionLines"]
                    if ln.get("referenceNumber") == ref
                ),
                Decimal(0),
            )
            credit = sum(
                (
                    Decimal(str(ln["creditAmountInCurrency"]))
                    for ln in batch["journalTransactionLines"]
                    if ln.get("referenceNumber") == ref
                ),
                Decimal(0),
            )
            if debit != amount or credit != amount:
                wrong[ref] = f"expected {amount}, Visma has debit {debit} credit {credit}"
        assert not wrong, f"amounts differ from the source: {wrong}"
        assert len(found) == len(expected)

    def journal_calls(self) -> dict[str, int]:
        """Requests to the journal-transaction API since the last ``sim.reset_stats()``."""
        return {
            path: n
            for path, n in self.sim.stats()["requests"].items()
            if any(p in path for p in JOURNAL_PATHS)
        }


def ledger_counts(app: service.App, name: str) -> dict[str, int]:
    return app.ledger.status_counts(name)


def open_documents(app: service.App, name: str) -> list[str]:
    return [f"{r.doc_key}={r.status}" for r in app.ledger.documents_with_status(name, [*DocStatus.OPEN])]


async def cycles_until_settled(
    app: service.App, name: str, *, max_cycles: int = 12, between: Callable[[], object] | None = None
) -> list[CycleResult]:
    """Run cycles until nothing is open (pending, posting, unknown, created); bounded."""
    results: list[CycleResult] = []
    for _ in range(max_cycles):
        results += await service.run_once(app, name)
        if not open_documents(app, name) and results[-1].status == "ok":
            return results
        if between:
            between()
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"not settled after {max_cycles} cycles: open {open_documents(app, name)}; "
        f"last errors {[r.errors for r in results[-3:]]}"
    )


# ---------------------------------------------------------------------------------------- fixtures


ConnectionFactory = Callable[..., Connection]

# Both readings of a journal listing's totalCount (Visma does not say which it counts), with pages
# small enough that every listing of a test spans several of them.
TOTAL_COUNTS = ("lines", "batches")
SMALL_JOURNAL_PAGE = 25


def sim_counting(
    visma_sim_factory: Callable[..., VismaSim], total_count: str, *, faults: str = "", **options: Any
) -> VismaSim:
    """A simulator whose journal listings count ``totalCount`` in ``total_count`` (lines|batches)."""
    spec = ",".join(x for x in (faults, f"total_count={total_count}") if x)
    return visma_sim_factory(seed="demo", faults=spec, journal_max_page_size=SMALL_JOURNAL_PAGE, **options)


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Backoff delays shrunk for in-process cycles (subprocesses keep the real policy)."""
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


@pytest.fixture
def connection_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    ledger_url: str,
    openssh_server: OpenSshServer,
    visma_sim_factory: Callable[..., VismaSim],
) -> Iterator[ConnectionFactory]:
    made: list[Connection] = []

    def make(
        sim: VismaSim | None = None,
        *,
        name: str = "acme",
        release: bool = True,
        closed_period_policy: str = "park",
        require_image: bool = False,
    ) -> Connection:
        if made:
            raise RuntimeError("one connection per test (they share the ledger)")
        root = "/" + "t_" + "".join(ch if ch.isalnum() else "_" for ch in tmp_path.name)
        for kind in ("invoices", "payments"):
            openssh_server.mkdir(f"{root}/{kind}")
        userinfo = ledger_url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
        in_file = ":" not in userinfo  # a URL with a password goes in ML_CONNECTOR_DATABASE_URL
        conn = Connection(
            name=name,
            workdir=tmp_path,
            sftp=openssh_server,
            sim=sim or visma_sim_factory(seed="demo"),
            ledger_url=ledger_url,
            remote_root=root,
            ledger_url_in_file=in_file,
        )
        conn.write_config(
            release=release, closed_period_policy=closed_period_policy, require_image=require_image
        )
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def connection(connection_factory: ConnectionFactory) -> Connection:
    return connection_factory()
