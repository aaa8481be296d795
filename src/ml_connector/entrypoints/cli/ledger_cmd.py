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
from ml_connector.errors import ConfigError
from ml_connector.ledger import identity as ledger_identity
from ml_connector.pipeline.identity import configured_identity, identity_problem

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
    application = service.open_app(config)
    try:
        known = ledger_identity.recorded(application.ledger)
        table = Table("connection", "recorded", "configured", "state")
        refused = False
        names = {c.name for c in application.config.connections}
        for cfg in application.config.connections:
            problem = identity_problem(cfg, known, names)
            refused = refused or problem is not None
            have = known.get(cfg.name)
            state = (
                "[red]refused[/]: " + escape(problem)
                if problem
                else ("ok" if have else "new (recorded on first run)")
            )
            table.add_row(
                cfg.name, have.describe() if have else "-", configured_identity(cfg).describe(), state
            )
        for name in sorted(set(known) - names):
            table.add_row(name, known[name].describe(), "-", "not in the configuration")
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
    application = service.open_app(config)
    try:
        cfg = application.config.connection(connection)
        mine = configured_identity(cfg)
        before = ledger_identity.accept(application.ledger, cfg.name, mine, actor=_actor())
    except KeyError:
        names = ", ".join(c.name for c in application.config.connections)
        raise ConfigError(f"no connection named {connection!r}; configured: {names}") from None
    finally:
        application.close()
    was = f" (was {before.describe()})" if before else ""
    console.print(f"{cfg.name}: accepted {mine.describe()}{was}")
