"""The PostgreSQL fixtures themselves: fresh databases, both ledger backends, the throwaway cluster."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.support.postgres import (
    DB_PREFIX,
    ENV_URL,
    PostgresUnavailable,
    ThrowawayCluster,
    check_server,
    find_server,
    free_port,
    libpq_url,
    sqlalchemy_url,
    start_throwaway_cluster,
    wait_gone,
    with_database,
)


def test_url_helpers() -> None:
    assert sqlalchemy_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert libpq_url("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"
    assert with_database("postgresql+psycopg://u@h:5/postgres", "x") == "postgresql+psycopg://u@h:5/x"
    assert with_database("postgresql://u@h:5/postgres?sslmode=disable", "x") == (
        "postgresql+psycopg://u@h:5/x?sslmode=disable"
    )


@pytest.mark.postgres
def test_postgres_url_is_a_fresh_empty_database(postgres_url: str, postgres_server_url: str) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    assert name.startswith(DB_PREFIX)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == name
            tables = conn.execute(
                sa.text("select count(*) from pg_tables where schemaname = 'public'")
            ).scalar()
            assert tables == 0
            conn.execute(sa.text("create table t (id int primary key)"))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_each_test_gets_its_own_database_and_it_is_dropped(postgres_server_url: str) -> None:
    from tests.support.postgres import create_database, drop_database

    a, b = create_database(postgres_server_url), create_database(postgres_server_url)
    assert a != b
    # a connection left open (as a forgotten pool would) does not block the drop
    lingering = psycopg.connect(libpq_url(with_database(postgres_server_url, a)))
    try:
        drop_database(postgres_server_url, a)
        drop_database(postgres_server_url, b)
    finally:
        lingering.close()
    with psycopg.connect(libpq_url(postgres_server_url)) as conn:
        left = conn.execute("select datname from pg_database where datname = any(%s)", [[a, b]]).fetchall()
    assert left == []


def test_ledger_url_runs_on_both_backends(ledger_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create table probe (k varchar(10) primary key)"))
            conn.execute(sa.text("insert into probe values ('a')"))
            assert conn.execute(sa.text("select count(*) from probe")).scalar() == 1
        assert engine.dialect.name in ("sqlite", "postgresql")
        if engine.dialect.name == "sqlite":
            assert ledger_url == f"sqlite:///{tmp_path / 'ledger.db'}"
        else:
            assert ledger_url.startswith("postgresql+psycopg://")
    finally:
        engine.dispose()


def test_throwaway_cluster_starts_serves_and_is_removed() -> None:
    started = time.monotonic()
    cluster: ThrowawayCluster = start_throwaway_cluster(free_port())
    try:
        assert cluster.root.is_dir() and str(cluster.root).startswith("/tmp/")
        check_server(cluster.url)
        with psycopg.connect(libpq_url(cluster.url), autocommit=True) as conn:
            assert conn.execute("show fsync").fetchone() == ("off",)
            assert conn.execute("select inet_server_port()").fetchone() == (cluster.port,)
    finally:
        cluster.stop()
    elapsed = time.monotonic() - started
    assert wait_gone(cluster.port) and not cluster.root.exists()
    cluster.stop()  # a second stop is harmless
    assert elapsed < 15, elapsed


def test_an_explicit_url_that_does_not_work_fails_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_URL, f"postgresql://postgres:pw-Q7@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(PostgresUnavailable) as info:
        find_server()
    assert "127.0.0.1" in str(info.value) and "pw-Q7" not in str(info.value)
