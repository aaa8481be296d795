"""``demo --serve``: after the story, the dashboard on the demo's ledger, with the simulators still
running behind it, until Ctrl-C or SIGTERM. The URL and a login are printed only once the
dashboard accepts connections."""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path

import typer

from ml_connector import service
from ml_connector.service import accounts
from ml_connector.web.server import dashboard_only, uvicorn_config

HOST = "127.0.0.1"
USER = "demo"


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    return sock


async def _accepts(port: int, *, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            _reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def serve_demo(app: service.App, workdir: Path, *, port: int) -> None:
    """Serve the dashboard on the demo's data until a signal; print the URL and a login first."""
    password = secrets.token_urlsafe(12)
    accounts.add_user(app.ledger, USER, "operator", password)
    sock = _listening_socket(port)
    actual = int(sock.getsockname()[1])
    stop = asyncio.Event()
    task = asyncio.create_task(dashboard_only(uvicorn_config(app, HOST, actual), stop=stop, sockets=[sock]))
    try:
        await _accepts(actual)
        typer.echo(f"dashboard: http://{HOST}:{actual}/  login: {USER} / {password}")
        typer.echo(f"demo data: {workdir}; stop with Ctrl-C")
        await task
    finally:
        stop.set()
        if not task.done():
            await task
        sock.close()
