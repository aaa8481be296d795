"""CLI commands: ``sftp fingerprint HOST[:PORT]`` and ``sim sftp`` (the embedded SFTP server)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ml_connector.entrypoints.cli.app import sftp_app, sim_app

STAMPLI_FOLDERS = ("outbound/invoices", "outbound/payments", "inbound/vendors")


@sftp_app.command("fingerprint")
def fingerprint_cmd(
    endpoint: Annotated[str, typer.Argument(metavar="HOST[:PORT]", help="Server to ask for its host key.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the SSH handshake.")] = 10.0,
) -> None:
    """Print a server's host key so an operator can pin it (compare it with Stampli out of band)."""
    from ml_connector.service.host_keys import server_host_key  # asyncssh: only when asked

    info = server_host_key(endpoint, timeout=timeout)
    typer.echo(f"host_key (known_hosts line): {info.known_hosts_line}")
    typer.echo(f"fingerprint:                 {info.fingerprint_sha256}")
    typer.echo(f"key type:                    {info.key_type}")
    typer.echo(
        "Verify the fingerprint with the server's owner before pinning it: "
        "anyone between you and the server could have answered."
    )


def _seed(root: Path) -> int:
    samples = resources.files("ml_connector") / "samples"
    n = 0
    for item in samples.iterdir():
        if item.name.startswith("stampli_invoices_"):
            with resources.as_file(item) as src:
                shutil.copyfile(src, root / "outbound" / "invoices" / item.name)
            n += 1
    return n


@sim_app.command("sftp")
def sim_sftp_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    root: Annotated[
        Path | None, typer.Option(help="Folder served as '/'. Default: a new temporary folder.")
    ] = None,
    username: Annotated[str, typer.Option(help="Test user name.")] = "stampli",
    password: Annotated[
        str | None, typer.Option(help="Test password (default: random, printed on start).")
    ] = None,
    seed: Annotated[
        bool, typer.Option(help="Copy the bundled sample exports to /outbound/invoices.")
    ] = False,
) -> None:
    """Run the embedded SFTP server (asyncssh) until Ctrl-C. Prints its host key and test credentials."""
    served = root or Path(tempfile.mkdtemp(prefix="ml-connector-sim-sftp-"))
    for folder in STAMPLI_FOLDERS:
        (served / folder).mkdir(parents=True, exist_ok=True)
    seeded = _seed(served) if seed else 0
    from ml_connector.sim.sftp_server import EmbeddedSftpServer

    srv = EmbeddedSftpServer(served, host=host, port=port, username=username, password=password)
    key_dir = Path(tempfile.mkdtemp(prefix="ml-connector-sim-sftp-key-"))  # outside the served root
    key_file = key_dir / "client_ed25519"
    key_file.write_text(srv.client_private_key)
    key_file.chmod(0o600)

    async def serve() -> None:
        async with srv:
            typer.echo(f"embedded SFTP server on {srv.host}:{srv.port}, root {srv.root}")
            typer.echo(f"host_key:    {srv.host_key_line}")
            typer.echo(f"fingerprint: {srv.host_key_fingerprint}")
            typer.echo(f"username:    {srv.username}")
            typer.echo(f"password:    {srv.password}")
            typer.echo(f"client key:  {key_file}")
            typer.echo(f"folders:     {', '.join('/' + f for f in STAMPLI_FOLDERS)}")
            if seeded:
                typer.echo(f"seeded:      {seeded} sample file(s) in /outbound/invoices")
            typer.echo("(test credentials for local use only; Ctrl-C stops)", err=True)
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(key_dir, ignore_errors=True)
