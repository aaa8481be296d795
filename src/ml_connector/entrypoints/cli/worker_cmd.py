"""``ml-connector worker`` and ``ml-connector db ...``: the scaled-out mode over PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml_connector.entrypoints.cli.app import app
from ml_connector.redaction import redact

db_app = typer.Typer(help="The shared PostgreSQL database of the scaled-out mode.", no_args_is_help=True)
connections_app = typer.Typer(help="Connections kept in the database.", no_args_is_help=True)
db_app.add_typer(connections_app, name="connections")
app.add_typer(db_app, name="db")

DATABASE_ENV = "ML_CONNECTOR_DATABASE_URL"
DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--database",
        envvar=DATABASE_ENV,
        help="PostgreSQL URL shared by every worker, e.g. postgresql://mlc@db.example.com/mlc.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ML_CONNECTOR_CONFIG", help="The configuration file."),
]


@app.command("worker")
def worker(
    database: DatabaseOpt,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Jobs run at once.")] = 4,
    config: ConfigOpt = Path("ml-connector.toml"),
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics and /healthz on this port.")
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address for --metrics-port.")] = (
        "127.0.0.1"
    ),
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Documents per posting job.")] = 10,
    tick: Annotated[
        int, typer.Option("--tick", min=1, max=30, help="Seconds between schedule checks (divides 60).")
    ] = 5,
    stalled_after: Annotated[
        float,
        typer.Option("--stalled-after", min=2.0, help="Seconds without heartbeat before a worker is dead."),
    ] = 30.0,
    name: Annotated[str | None, typer.Option("--name", help="Worker name (default host:pid).")] = None,
    webhooks: Annotated[
        bool,
        typer.Option("--webhooks", help="Receive Visma's webhooks on [webhooks] port (one worker per host)."),
    ] = False,
) -> None:
    """Run a procrastinate worker: each connection's poll cycle on its schedule (never two at once),
    posting spread over all workers, the Visma rate budget shared through the database."""
    from ml_connector.scale.worker import ScaleOptions, run_worker

    options = ScaleOptions(
        chunk_size=chunk_size,
        tick_seconds=tick,
        stalled_after=stalled_after,
        heartbeat_interval=max(1.0, min(10.0, stalled_after / 4)),
    )
    asyncio.run(
        run_worker(
            database,
            config,
            concurrency=concurrency,
            options=options,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            name=name,
            webhooks=webhooks,
        )
    )


@db_app.command("upgrade")
def db_upgrade(
    database: DatabaseOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Migrate the ledger schema and apply the queue's (procrastinate) schema; safe to run again."""
    from ml_connector.scale.worker import upgrade

    result = upgrade(database)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"ledger at revision {result['ledger_revision']}; queue schema {result['queue_schema']}")


@connections_app.command("add")
def connections_add(
    path: Annotated[Path, typer.Argument(help="TOML file with [connections.NAME] tables only ('-': stdin).")],
    database: DatabaseOpt,
    config: ConfigOpt = Path("ml-connector.toml"),
) -> None:
    """Store connections in the database (validated with the configuration file); workers pick them
    up at their next tick."""
    from ml_connector.scale.worker import store_connection_file

    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    names = store_connection_file(database, config, text, environ=os.environ)
    typer.echo("stored: " + ", ".join(names))


@connections_app.command("list")
def connections_list(database: DatabaseOpt) -> None:
    """Names of the connections kept in the database."""
    from ml_connector.scale.worker import connection_names

    for name in connection_names(database):
        typer.echo(redact(name))


@connections_app.command("remove")
def connections_remove(name: str, database: DatabaseOpt) -> None:
    """Remove a connection from the database (its ledger history stays)."""
    from ml_connector.scale.worker import remove_stored_connection

    gone = remove_stored_connection(database, name)
    if not gone:
        typer.echo(f"no connection {name!r} in the database", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {name}")
