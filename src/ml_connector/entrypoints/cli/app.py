"""The typer application objects. Command modules import these and register their commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ml-connector",
    help="Posts Stampli-approved supplier invoices and payments into Visma.net, exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sim_app = typer.Typer(
    help="Embedded servers for demos and tests (SFTP, Visma simulator).", no_args_is_help=True
)
sftp_app = typer.Typer(help="SFTP helpers.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
app.add_typer(sftp_app, name="sftp")
