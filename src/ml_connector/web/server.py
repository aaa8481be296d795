"""Running the dashboard: alone (``ml-connector dashboard``) or in the same event loop as the cycles
of ``ml-connector serve``. SIGINT/SIGTERM stop both: the running cycle finishes, open requests end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from ml_connector import service
from ml_connector.web.app import create_app

log = logging.getLogger("ml_connector.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller's stop event decides."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def uvicorn_config(
    application: service.App,
    host: str,
    port: int,
    *,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
) -> uvicorn.Config:
    # Forwarding headers only from the proxies the configuration names: believed from anyone else,
    # X-Forwarded-For would let a client pick the address the login limit counts against.
    proxies = list(application.config.dashboard.trusted_proxies)
    return uvicorn.Config(
        create_app(application),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=bool(proxies),  # X-Forwarded-Proto from a trusted TLS proxy makes cookies Secure
        forwarded_allow_ips=proxies,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=10,
    )


async def run_dashboard(
    config: uvicorn.Config, *, stop: asyncio.Event, sockets: list[socket.socket] | None = None
) -> None:
    server = _Server(config)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    try:
        await server.serve(sockets=sockets)
    finally:
        watcher.cancel()


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def dashboard_only(
    config: uvicorn.Config, *, stop: asyncio.Event | None = None, sockets: list[socket.socket] | None = None
) -> None:
    stop = stop or asyncio.Event()
    _install_signals(stop)
    await run_dashboard(config, stop=stop, sockets=sockets)


def webhook_listener(application: service.App) -> uvicorn.Config | None:
    """The webhook receiver on a port of its own (``[webhooks] port``), HTTPS when configured."""
    receiver = application.webhooks
    if receiver is None or receiver.config.port is None:
        return None
    cfg = receiver.config
    return uvicorn.Config(
        Starlette(routes=[receiver.route()]),
        host=cfg.host,
        port=receiver.config.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        ssl_certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
        ssl_keyfile=str(cfg.tls_key) if cfg.tls_key else None,
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=5,
    )


async def serve_with_dashboard(
    application: service.App, config: uvicorn.Config | None, *, stop: asyncio.Event | None = None
) -> None:
    """The cycles of every connection and, unless ``config`` is None, the dashboard beside them;
    the webhook receiver on its own port when configured so."""
    stop = stop or asyncio.Event()
    _install_signals(stop)
    servers = [c for c in (config, webhook_listener(application)) if c is not None]
    receiver = application.webhooks
    if receiver is not None and receiver.config.port is None and config is None:
        log.warning("webhooks are enabled on the dashboard's server, which is off: set [webhooks] port")
    tasks = [asyncio.create_task(run_dashboard(c, stop=stop)) for c in servers]
    try:
        await service.serve(application, stop=stop)
    finally:
        stop.set()
        for task in tasks:
            await task
