"""CLI command: ``ml-connector init [PATH] [--force]`` writes the commented configuration template."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ml_connector.config import TEMPLATE_ENV_VARS, render_template
from ml_connector.entrypoints.cli.app import app
from ml_connector.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("ml-connector.toml")
# The one story on secrets (README "Running it for real", docs/security.md): the vault.
NEXT_STEPS = (
    "ml-connector secrets new-key master.key          # mode 0600, never printed",
    '# uncomment [vault] in {path}: path = "ml-connector.vault", master_key_file = "master.key"',
    "ml-connector secrets set acme_sftp_password -c {path}     # prompts, or reads a pipe",
    "ml-connector secrets set acme_visma_client_secret -c {path}",
    '# in {path}: password = "vault:acme_sftp_password", client_secret = "vault:acme_visma_client_secret"',
    "ml-connector check -c {path}",
)


def write_template(path: Path, *, force: bool = False) -> None:
    """Write the template to ``path`` with mode 0600. Refuses to overwrite unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; use --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)  # an existing file keeps its mode on O_TRUNC: tighten it
        fh.write(render_template())


@app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the configuration.")] = DEFAULT_CONFIG_PATH,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented configuration template (mode 0600). Secrets go in the encrypted vault
    (`secrets new-key`, a [vault] table, `secrets set NAME`, then "vault:NAME" in the file); "env:NAME"
    references to environment variables work too."""
    write_template(path, force=force)
    typer.echo(f"wrote {path}")
    typer.echo("next: edit it (hosts, pinned host key, accounts), then put the secrets in the vault:")
    for line in NEXT_STEPS:
        typer.echo("  " + line.format(path=path))
    typer.echo("(or keep the template's env: references and set " + ", ".join(TEMPLATE_ENV_VARS) + ")")
