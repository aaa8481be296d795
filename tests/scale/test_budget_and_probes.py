"""The shared rate budget on its own (pure rules, then three clients against a rate-limited simulator:
one PostgreSQL budget versus one budget per client), the queue schema upgrade, connections kept in
the database, and the dashboard's /metrics and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.ratelimit import (
    BudgetRow,
    InProcessBudget,
    RateBudget,
    RateState,
    observe_rule,
    reserve_rule,
)
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.errors import ConfigError
from ml_connector.retry import RetryPolicy
from ml_connector.scale.budget import PgBudget, budget_key
from ml_connector.scale.connections import ConnectionSource, store_connections
from ml_connector.scale.worker import upgrade
from tests.scale.harness import head_revision
from tests.support.visma_sim import VismaSim
from tests.web.conftest import build_world

CONSOLE = Path(sys.executable).with_name("ml-connector")


# ---- pure rules ---------------------------------------------------------------------------------


def test_reservations_never_exceed_a_known_window() -> None:
    row = BudgetRow(limit=10, remaining=10, reset_at=100.0)
    slots = []
    for _ in range(25):
        row, slot = reserve_rule(row, 90.0, low_water=3)
        slots.append(slot)
    assert sum(1 for s in slots if s < 100.0) == 10  # the window holds ten; the rest wait for the reset
    assert all(s >= 100.0 for s in slots[10:])
    assert row.inflight == 25


def test_a_fresh_window_holds_the_limit_until_an_answer_tells_its_end() -> None:
    row = BudgetRow(limit=3, remaining=0, reset_at=50.0)
    taken = []
    for _ in range(5):
        row, slot = reserve_rule(row, 51.0, low_water=1)
        taken.append(slot)
    assert taken[:3] == [51.0, 51.0, 51.0]
    assert all(s > 51.0 for s in taken[3:])  # used up before any answer: wait for one
    row = observe_rule(row, RateState(limit=3, remaining=2, reset_at=53.0), 51.1)
    assert row.remaining == 0 and row.reset_at == 53.0  # our own count is lower: it wins


def test_a_newly_seen_window_counts_the_calls_still_in_flight() -> None:
    row = BudgetRow(limit=40, remaining=1, reset_at=100.0, inflight=5)
    row = observe_rule(row, RateState(limit=40, remaining=39, reset_at=102.5), 100.5)
    assert row.remaining == 39 - 4 and row.inflight == 4


# ---- three clients, one simulator window ----------------------------------------------------------


def _settings(sim: VismaSim) -> VismaSettings:
    return VismaSettings(
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        tenant_id=sim.tenant_id,
        company_id=sim.company_id,
        api_url=sim.api_url,
        token_url=sim.token_url,
    )


async def _hammer(sim: VismaSim, budgets: list[RateBudget], calls: int) -> None:
    policy = RetryPolicy(attempts=20, base_delay=0.05, max_delay=2.0)

    async def client(budget: RateBudget) -> None:
        async with VismaClient(_settings(sim), budget=budget, policy=policy) as visma:
            for _ in range(calls):
                await visma.currencies()

    await asyncio.gather(*(client(b) for b in budgets))


@pytest.mark.postgres
async def test_one_budget_in_postgresql_keeps_three_clients_under_the_limit(
    postgres_url: str, visma_sim_factory: Callable[..., VismaSim]
) -> None:
    upgrade(postgres_url)
    shared = visma_sim_factory(seed="demo", rate_limit="12/1")
    separate = visma_sim_factory(seed="demo", rate_limit="12/1")
    engines = [sa.create_engine(postgres_url) for _ in range(3)]  # as three processes would
    try:
        key = budget_key(_settings(shared))
        await _hammer(shared, [PgBudget(e, key, low_water=4) for e in engines], calls=16)
        await _hammer(separate, [InProcessBudget(low_water=4) for _ in range(3)], calls=16)
        with engines[0].connect() as conn:
            reserved, throttled = conn.execute(
                sa.text("SELECT reserved, throttled FROM rate_budgets WHERE key = :k"), {"k": key}
            ).one()
    finally:
        for e in engines:
            e.dispose()
    assert shared.stats()["rate_limited"] == 0, shared.stats()
    assert reserved == 48 and throttled == 0
    # the control: each client pacing on its own believes it has the whole window
    assert separate.stats()["rate_limited"] > 0


# ---- database: queue schema, connections ----------------------------------------------------------


@pytest.mark.postgres
def test_db_upgrade_twice_and_connections_in_the_database(postgres_url: str, tmp_path: Path) -> None:
    first = subprocess.run(
        [str(CONSOLE), "db", "upgrade", "--database", postgres_url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert '"queue_schema": "applied"' in first.stdout
    again = upgrade(postgres_url)
    assert again == {"ledger_revision": head_revision(), "queue_schema": "present"}

    base = tmp_path / "ml-connector.toml"
    base.write_text('[log]\nlevel = "WARNING"\n', encoding="utf-8")
    fragment = """
[connections.acme]
stampli_company_id = "C1"
poll_interval = 300
[connections.acme.sftp]
host = "sftp.example.com"
username = "acme"
password = "env:ACME_SFTP"
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
[connections.acme.visma]
client_id = "cid"
client_secret = "env:ACME_VISMA"
tenant_id = "t1"
company_id = "1"
[connections.acme.mapping]
credit_account = "2460"
[connections.acme.mapping.default_segments]
1 = "0000"
"""
    env = {"ACME_SFTP": "x" * 8, "ACME_VISMA": "y" * 8}
    engine = sa.create_engine(postgres_url)
    try:
        assert store_connections(engine, base, fragment, environ=env) == ["acme"]
        config = ConnectionSource(base, engine, environ=env).current()
        [acme] = config.connections
        assert (acme.name, acme.poll_interval) == ("acme", 300)
        assert acme.mapping.default_segments == {1: "0000"}
        with pytest.raises(ConfigError, match=r"invalid"):
            store_connections(engine, base, fragment.replace('"2460"', "2460"), environ=env)
    finally:
        engine.dispose()


# ---- the dashboard serves the probes too ----------------------------------------------------------


def test_dashboard_serves_metrics_and_healthz(tmp_path: Path) -> None:
    with (
        contextlib.contextmanager(build_world)(tmp_path) as world,
        httpx2.Client(base_url=world.base_url, timeout=30) as http,
    ):
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'mlc_parked_documents{connection="acme"} 2.0' in metrics.text
        assert "mlc_backlog_documents" in metrics.text
        assert 'mlc_reading_documents{connection="acme"} 0.0' in metrics.text  # no file broke off


# ---- the demo in the scaled-out mode ---------------------------------------------------------------


@pytest.mark.postgres
def test_demo_with_three_workers_spreads_the_work_with_zero_duplicates(postgres_url: str) -> None:
    done = subprocess.run(
        [str(CONSOLE), "demo", "--workers", "3", "--database", postgres_url, "--json"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["workers"] == 3
    assert len(summary["posted_by_worker"]) == 3 and all(n > 0 for n in summary["posted_by_worker"].values())
    assert sum(summary["posted_by_worker"].values()) == summary["posted"] == 276
    assert summary["duplicates_in_visma"] == 0
    assert summary["reconciliation"] == {"matched": 276, "missing": 0, "differences": 0, "not_posted": 0}
    assert summary["replayed"] == 5 and summary["parked_now"] == 0
    assert summary["attachments"] == 200  # every invoice's image, attached by whichever worker posted it
