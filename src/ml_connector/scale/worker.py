"""``ml-connector worker`` and ``ml-connector db upgrade``: the process side of the scaled-out mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector import service
from ml_connector.config.loader import DATABASE_URL_ENV
from ml_connector.errors import ConfigError, LedgerError
from ml_connector.ledger.store import MIGRATION_LOCK_KEY, Ledger, worker_id
from ml_connector.logs import configure
from ml_connector.scale import metrics
from ml_connector.scale.connections import ConnectionSource, remove_connection, store_connections
from ml_connector.scale.tasks import ScaleOptions, ScaleState, build_app, defer_refresh, install

__all__ = [  # what `ml-connector worker`, `db upgrade` and `connections` use
    "ScaleOptions",
    "connection_names",
    "remove_stored_connection",
    "run_worker",
    "sqlalchemy_url",
    "store_connection_file",
    "upgrade",
]
from ml_connector.webhooks.receiver import Receiver

log = logging.getLogger("ml_connector.scale")

_PREFIXES = ("postgresql+psycopg://", "postgresql://", "postgres://")


def sqlalchemy_url(url: str) -> str:
    """Any PostgreSQL URL -> ``postgresql+psycopg://...``; anything else is refused."""
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ConfigError(
        "the scaled-out mode needs PostgreSQL: give --database postgresql://USER@HOST:PORT/DB "
        "(one process on SQLite is `ml-connector serve`)"
    )


def libpq_url(url: str) -> str:
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


def upgrade(database_url: str) -> dict[str, Any]:
    """The ledger's migrations (Alembic, up to 0005) and procrastinate's schema, idempotent; two
    upgrades at once wait for each other (the ledger's migration advisory lock)."""
    url = sqlalchemy_url(database_url)
    ledger = Ledger.open(url)
    try:
        with ledger.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            present = conn.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar()
            applied = False
            if present is None:
                from procrastinate.schema import SchemaManager

                schema = SchemaManager.get_schema()
                raw = conn.connection.driver_connection
                if raw is None:
                    raise LedgerError("no database connection for the queue schema")
                raw.execute(schema)  # psycopg: several statements, no parameters
                applied = True
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerError(f"database upgrade failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        ledger.close()
    return {"ledger_revision": revision, "queue_schema": "applied" if applied else "present"}


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:  # procrastinate's worker owns SIGINT/SIGTERM
        yield


def store_connection_file(
    database_url: str, config_path: Path, text: str, *, environ: Mapping[str, str]
) -> list[str]:
    """Store the ``[connections.NAME]`` tables of ``text`` in the database (validated together with the
    configuration file); the names stored."""
    url = sqlalchemy_url(database_url)
    ledger = Ledger.open(url)
    try:
        return store_connections(ledger.engine, config_path, text, environ={**environ, DATABASE_URL_ENV: url})
    finally:
        ledger.close()


def connection_names(database_url: str) -> list[str]:
    """The names of the connections kept in the database, sorted."""
    ledger = Ledger.open(sqlalchemy_url(database_url))
    try:
        return sorted(ConnectionSource(Path("."), ledger.engine).rows())
    finally:
        ledger.close()


def remove_stored_connection(database_url: str, name: str) -> bool:
    """Remove a connection from the database (its ledger history stays); False when there was none."""
    ledger = Ledger.open(sqlalchemy_url(database_url))
    try:
        return remove_connection(ledger.engine, name)
    finally:
        ledger.close()


def metrics_app(engine: sa.engine.Engine, started: float, extra: dict[str, Any]) -> Starlette:
    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        ok, body = await asyncio.to_thread(metrics.health, engine, started, extra)
        return JSONResponse(body, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/metrics", metrics_endpoint), Route("/healthz", healthz)])


def webhook_server(state: ScaleState) -> _QuietServer | None:
    """Visma's notifications on ``[webhooks] port`` (HTTPS when configured): each accepted one
    defers an ``mlc.refresh`` job, which any worker runs."""
    cfg = state.connections.current().webhooks
    if cfg is None or not cfg.enabled:
        return None
    if cfg.port is None:
        log.warning("webhooks are enabled but a worker has no dashboard: set [webhooks] port")
        return None
    receiver = Receiver(
        cfg,
        cfg.secret.resolve(state.app.resolver),
        lambda: state.connections.current().connections,
        defer_refresh,
    )
    return _QuietServer(
        uvicorn.Config(
            Starlette(routes=[receiver.route()]),
            host=cfg.host,
            port=cfg.port,
            ssl_certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
            ssl_keyfile=str(cfg.tls_key) if cfg.tls_key else None,
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="off",
            log_config=None,
        )
    )


async def run_worker(
    database_url: str,
    config_path: Path,
    *,
    concurrency: int = 4,
    options: ScaleOptions | None = None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    environ: Mapping[str, str] | None = None,
    name: str | None = None,
    webhooks: bool = False,
) -> None:
    """Run one procrastinate worker until SIGINT/SIGTERM (running jobs finish first); with
    ``webhooks``, also the receiver of Visma's notifications (``[webhooks]``, on its own port)."""
    opts = options or ScaleOptions()
    url = sqlalchemy_url(database_url)
    env = {**(os.environ if environ is None else environ), DATABASE_URL_ENV: url}
    app = service.open_app(config_path, environ=env)
    try:
        configure(app.config.log.level, app.config.log.format, app.config.log.file)
        state = ScaleState(app, ConnectionSource(config_path, app.ledger.engine, environ=env), opts)
        metrics.watch_ledger(app.ledger.engine)
        papp = build_app(libpq_url(url), opts)
        state.procrastinate_app = papp
        install(state)
        worker_name = name or worker_id()
        started = time.time()
        server: _QuietServer | None = None
        serving: asyncio.Task[None] | None = None
        if metrics_port is not None:
            server = _QuietServer(
                uvicorn.Config(
                    metrics_app(app.ledger.engine, started, {"worker": worker_name}),
                    host=metrics_host,
                    port=metrics_port,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    log_config=None,
                )
            )
            serving = asyncio.create_task(server.serve())
        hooks = webhook_server(state) if webhooks else None
        hooks_task = asyncio.create_task(hooks.serve()) if hooks is not None else None
        log.info(
            "worker %s: %d connections, concurrency %d",
            worker_name,
            len(state.connections.current().enabled_connections),
            concurrency,
        )
        try:
            async with papp.open_async():
                await papp.run_worker_async(
                    concurrency=concurrency,
                    name=worker_name,
                    install_signal_handlers=True,
                    update_heartbeat_interval=opts.heartbeat_interval,
                    stalled_worker_timeout=opts.stalled_after,
                    delete_jobs="successful",
                )
        finally:
            if hooks is not None and hooks_task is not None:
                hooks.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await hooks_task
            if server is not None and serving is not None:
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
    finally:
        app.close()
