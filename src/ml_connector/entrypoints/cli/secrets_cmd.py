"""``ml-connector secrets``: the encrypted vault. Values come from a prompt or standard input, never
from the command line (argv is visible to every user in ``ps``), and are never printed."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ml_connector.entrypoints.cli.app import app
from ml_connector.errors import SecretError
from ml_connector.service.secrets import Vault, configured_vault, read_master_key, write_new_master_key

secrets_app = typer.Typer(
    help="The encrypted vault: set, list, verify, delete secrets; rotate the master key.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets")

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="ML_CONNECTOR_CONFIG", help="The configuration file with the [vault] table."
    ),
]
DEFAULT_CONFIG = Path("ml-connector.toml")


def _vault(config: Path) -> Vault:
    return configured_vault(config, os.environ)


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"value for {name}: ")
        again = getpass.getpass(f"value for {name} (again): ")
        if first != again:
            raise SecretError(f"vault secret {name!r}: the two values differ; nothing stored")
        return first
    data = sys.stdin.read()
    # One trailing newline is how `echo`/a here-doc ends the value, not part of it.
    return data[:-2] if data.endswith("\r\n") else data[:-1] if data.endswith("\n") else data


@secrets_app.command("set")
def set_secret(
    name: Annotated[str, typer.Argument(help="The secret's name, used as vault:NAME in the configuration.")],
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Store a secret. The value is read from a prompt (twice) or from standard input."""
    vault = _vault(config)
    info = vault.set(name, _read_value(name))
    typer.echo(f"stored {info.name} (master key {info.key_id}); refer to it as vault:{info.name}")


@secrets_app.command("list")
def list_secrets(
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The names of the stored secrets (never their values)."""
    items = _vault(config).list()
    if as_json:
        typer.echo(
            json.dumps(
                [{"name": i.name, "key_id": i.key_id, "updated_at": i.updated_at.isoformat()} for i in items]
            )
        )
        return
    if not items:
        typer.echo("the vault is empty")
    for i in items:
        typer.echo(f"{i.name}\tkey {i.key_id}\tupdated {i.updated_at:%Y-%m-%d %H:%M:%S}Z")


@secrets_app.command("verify")
def verify(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Decrypt every secret with the current master key(s) and report each one (values not shown)."""
    results = _vault(config).verify()
    bad = 0
    for name, problem in results.items():
        if problem is None:
            typer.echo(f"ok      {name}")
        else:
            bad += 1
            typer.echo(f"FAILED  {problem}")
    if bad:
        raise SecretError(f"{bad} of {len(results)} vault secret(s) cannot be read")
    typer.echo(f"{len(results)} secret(s) readable")


@secrets_app.command("delete")
def delete(name: Annotated[str, typer.Argument()], config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Remove a secret from the vault."""
    if not _vault(config).delete(name):
        raise SecretError(f"vault secret {name!r} does not exist")
    typer.echo(f"deleted {name}")


@secrets_app.command("rotate")
def rotate(
    config: ConfigOpt = DEFAULT_CONFIG,
    new_key_file: Annotated[
        Path | None,
        typer.Option("--new-key-file", help="Rotate to the key in this file (default: a fresh random key)."),
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Only drop retired keys from the key file; no rotation.")
    ] = False,
) -> None:
    """Re-encrypt every secret under a new master key, in one atomic step (see docs/security.md).

    With --prune it only drops the retired keys from the key file (once no secret uses them)."""
    vault = _vault(config)
    if prune:
        dropped = vault.prune_keys()
        typer.echo(f"dropped {len(dropped)} retired key(s) from {vault.keys.description}")
        return
    new_key = None
    if new_key_file is not None:
        new_key = read_master_key(new_key_file)
    result = vault.rotate(new_key)
    typer.echo(f"re-encrypted {result.rotated} secret(s) under master key {result.key_id}")
    if result.key_file_updated:
        typer.echo(
            f"the key file now holds the new key first; retired key(s) {', '.join(result.previous_ids)}"
        )
    if result.previous_ids:
        typer.echo(
            "the retired keys still decrypt; once every process has re-read the key:"
            " ml-connector secrets rotate --prune"
        )


@secrets_app.command("new-key")
def new_key(path: Annotated[Path, typer.Argument(help="Where to write the key (mode 0600).")]) -> None:
    """Write a fresh random master key to a new file readable only by you. It is never printed."""
    typer.echo(f"wrote master key {write_new_master_key(path)} to {path} (mode 0600)")
