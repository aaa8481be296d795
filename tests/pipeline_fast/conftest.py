"""A connection whose ports are the in-memory fakes (tests/support/fakes.py), on a SQLite ledger
copied from one migrated template: a whole cycle in milliseconds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector.config.model import (
    ConnectionConfig,
    MappingConfig,
    PostingConfig,
    SftpConfig,
    VismaConfig,
)
from ml_connector.config.secrets import SecretRef
from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.runtime import Runtime
from tests.pipeline.conftest import Dataset
from tests.support.fakes import FakeConnectors, FakeStampli, FakeVisma

NAME = "fast"
INVOICES = "/outbound/invoices"
PAYMENTS = "/outbound/payments"


def config(**posting: object) -> ConnectionConfig:
    return ConnectionConfig(
        name=NAME,
        stampli_company_id="C100234",
        sftp=SftpConfig(host="fake", username="u", host_key="ssh-ed25519 AAAA", min_file_age=0),
        visma=VismaConfig(
            api_url="https://visma.invalid",
            token_url="https://visma.invalid/token",
            client_id="c",
            client_secret=SecretRef("env", "UNUSED"),
            tenant_id="t",
            company_id="1",
        ),
        mapping=MappingConfig(
            credit_account="2460",
            default_segments={1: "0000", 2: "00"},
            tax_accounts={"1": "2710", "11": "2711"},
            bank_accounts={
                "DNB-1503.12.34567": "1920",
                "DNB-EUR-1503.99.12345": "1921",
                "SEB-5000.00.58398": "1920",
            },
            default_bank_account="1920",
        ),
        posting=replace(PostingConfig(), **posting),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def ledger_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger-template") / "ledger.db"
    Ledger.open(f"sqlite:///{path}").close()  # migrated once; every test copies the file
    return path


@dataclass
class World:
    rt: Runtime
    visma: FakeVisma
    stampli: FakeStampli
    connectors: FakeConnectors
    ledger: Ledger  # the concrete ledger the runtime holds as its LedgerPort (tests read it whole)
    files: int = field(default=0)

    def put_invoices(self, text: str) -> None:
        self.files += 1
        self.stampli.put(f"{INVOICES}/stampli_invoices_C100234_20250331T0715{self.files:02d}Z_0001.csv", text)

    def put_payments(self, text: str) -> None:
        self.files += 1
        self.stampli.put(f"{PAYMENTS}/stampli_payments_C100234_20250331T0715{self.files:02d}Z_0001.csv", text)

    async def cycle(self) -> CycleResult:
        return await run_cycle(self.rt)

    def status(self, key: str) -> str:
        row = self.ledger.document(NAME, key)
        assert row is not None, key
        return str(row.status)

    def statuses(self) -> dict[str, int]:
        return dict(self.ledger.status_counts(NAME))

    def open_failures(self) -> list[dict[str, object]]:
        return [r.as_dict() for r in self.ledger.open_failures(NAME)]

    def another_ledger(self, tmp_path: Path, template: Path) -> World:
        """A second, empty ledger on the same Visma (a lost or restored one)."""
        return world_on(tmp_path / "second", template, self.visma, self.stampli, self.rt.config)


def world_on(
    where: Path, template: Path, visma: FakeVisma, stampli: FakeStampli, cfg: ConnectionConfig
) -> World:
    where.mkdir(parents=True, exist_ok=True)
    db = where / "ledger.db"
    shutil.copyfile(template, db)
    connectors = FakeConnectors(visma, stampli)
    ledger = Ledger(f"sqlite:///{db}")
    sa.event.listen(ledger.engine, "connect", _no_fsync)
    ledger.engine.dispose()  # a connection opened before the listener reconnects with it
    rt = Runtime(
        config=cfg,
        ledger=ledger,
        archive_dir=where / "archive",
        connectors=connectors,
        settle_after=timedelta(0),
        configured_names=frozenset({NAME}),
    )
    return World(rt, visma, stampli, connectors, ledger)


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    """A test's ledger need not survive a power cut: no fsync per commit (the ledger's own
    ``synchronous=FULL`` made commits most of a cycle's time on a busy disk)."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


@pytest.fixture
def world(tmp_path: Path, ledger_template: Path) -> Iterator[World]:
    w = world_on(tmp_path, ledger_template, FakeVisma.demo(), FakeStampli(), config())
    yield w
    w.ledger.close()


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return Dataset.make(6, missing=0)


__all__ = ["Dataset", "DocStatus", "World"]
