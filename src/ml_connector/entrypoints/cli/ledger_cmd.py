"""``ml-connector ledger``: whose history the ledger holds, and accepting a deliberate change.

A ledger records, per connection, the Stampli company and the Visma tenant and company on first
use (``ml_connector.pipeline.identity``); a cycle for a changed or renamed connection is refused
until the change is accepted here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ml_connector import exitcodes, service
from ml_connector.entrypoints.cli.app import app
from ml_connector.entrypoints.cli.ops_cmd import _actor

ledger_app = typer.Typer(
    help="The ledger's identity: show it, accept a deliberate change.", no_args_is_help=True
)
app.add_typer(ledger_app, name="ledger")
console = Console()

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ML_CONNECTOR_CONFIG", help="The configuration file."),
]
DEFAULT_CONFIG = Path("ml-connector.toml")


@ledger_app.command("identity")
def show(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Per connection: the recorded identity, the configured one, and whether a run may use the
    ledger. Exits 1 when any connection would be refused."""
    from ml_connector.service.identity import identity_rows

    application = service.open_app(config)
    try:
        rows = identity_rows(application)
        table = Table("connection", "recorded", "configured", "state")
        refused = False
        for row in rows:
            refused = refused or row.problem is not None
            if row.configured is None:
                state = "not in the configuration"
            elif row.problem:
                state = "[red]refused[/]: " + escape(row.problem)
            else:
                state = "ok" if row.recorded else "new (recorded on first run)"
            table.add_row(row.connection, row.recorded or "-", row.configured or "-", state)
        console.print(table)
    finally:
        application.close()
    raise typer.Exit(exitcodes.FAILED if refused else exitcodes.OK)


@ledger_app.command("accept")
def accept(
    connection: Annotated[str, typer.Argument(help="The connection whose configured identity to accept.")],
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Record the connection's configured Stampli company and Visma tenant and company as its
    identity in this ledger, on purpose (audited). Only for a deliberate change: a ledger's history
    (what is posted under which reference) is only true for the company it was recorded with."""
    from ml_connector.service.identity import accept_identity

    application = service.open_app(config)
    try:
        accepted, before = accept_identity(application, connection, actor=_actor())
    finally:
        application.close()
    was = f" (was {before})" if before else ""
    console.print(f"{connection}: accepted {accepted}{was}")
