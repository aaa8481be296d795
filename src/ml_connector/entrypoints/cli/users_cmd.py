"""``ml-connector users``: who may log in to the dashboard (stored in the ledger, scrypt hashes)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ml_connector import service
from ml_connector.entrypoints.cli.app import app
from ml_connector.entrypoints.cli.output import FormatOpt, check_format, make_console, print_table

users_app = typer.Typer(help="Dashboard users: add, list, set a password, remove.", no_args_is_help=True)
app.add_typer(users_app, name="users")
console = make_console()

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ML_CONNECTOR_CONFIG", help="The configuration file."),
]
DEFAULT_CONFIG = Path("ml-connector.toml")
StdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input (for scripts)."
    ),
]


def _open(config: Path) -> service.App:
    """The application of the configuration (its ledger migrated to the newest schema)."""
    return service.open_app(config)


def _password(from_stdin: bool) -> str:
    # A pipe is read as a pipe: getpass on a non-terminal would warn (GetPassWarning) and echo.
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user name to log in with.")],
    role: Annotated[str, typer.Option("--role", help="viewer (reads) or operator (also replays).")],
    config: ConfigOpt = DEFAULT_CONFIG,
    password_stdin: StdinOpt = False,
) -> None:
    """Add a dashboard user. The password is asked for twice (or read from stdin); only its scrypt
    hash is stored."""
    from ml_connector.service import accounts

    if role not in accounts.ROLES:
        raise typer.BadParameter("--role must be viewer or operator")
    password = _password(password_stdin)
    opened = _open(config)
    try:
        accounts.add_user(opened.ledger, name, role, password)
    finally:
        opened.close()
    console.print(
        f"added {name} ({role}); the dashboard runs with `ml-connector serve` or `ml-connector dashboard`"
    )


@users_app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="The user name.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    password_stdin: StdinOpt = False,
) -> None:
    """Set a new password (ends the user's open sessions)."""
    from ml_connector.service import accounts

    password = _password(password_stdin)
    opened = _open(config)
    try:
        accounts.set_password(opened.ledger, name, password)
    finally:
        opened.close()
    console.print(f"password of {name} changed; open sessions ended")


@users_app.command("remove")
def remove(name: Annotated[str, typer.Argument()], config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Remove a user (ends the user's open sessions)."""
    from ml_connector.service import accounts

    opened = _open(config)
    try:
        accounts.remove_user(opened.ledger, name)
    finally:
        opened.close()
    console.print(f"removed {name}")


@users_app.command("list")
def list_(config: ConfigOpt = DEFAULT_CONFIG, fmt: FormatOpt = "table") -> None:
    """Every user and role (never a password or hash)."""
    from ml_connector.service import accounts

    check_format(fmt)
    opened = _open(config)
    try:
        rows = accounts.list_users(opened.ledger)
    finally:
        opened.close()
    if not rows and fmt == "table":
        console.print("no users; add one with `ml-connector users add NAME --role operator`")
        return
    cells = [[str(r["username"]), str(r["role"]), f"{r['created_at']:%Y-%m-%d %H:%M}"] for r in rows]
    print_table(console, ("user", "role", "created"), cells, fmt)
