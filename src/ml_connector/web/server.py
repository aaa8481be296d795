"""Running the dashboard: alone (``ml-connector dashboard``) or in the same event loop as the cycles
of ``ml-connector serve``. SIGINT/SIGTERM stop both: the running cycle finishes, open requests end.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator
from pathlib import Path

import uvicorn

from ml_connector import service
from ml_connector.web.app import create_app

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


async def run_dashboard(config: uvicorn.Config, *, stop: asyncio.Event) -> None:
    server = _Server(config)

    async def stopper() -> None:
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stopper())
    try:
        await server.serve()
    finally:
        watcher.cancel()


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def dashboard_only(config: uvicorn.Config, *, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    _install_signals(stop)
    await run_dashboard(config, stop=stop)


async def serve_with_dashboard(
    application: service.App, config: uvicorn.Config | None, *, stop: asyncio.Event | None = None
) -> None:
    """The cycles of every connection and, unless ``config`` is None, the dashboard beside them."""
    stop = stop or asyncio.Event()
    _install_signals(stop)
    if config is None:
        await service.serve(application, stop=stop)
        return
    dashboard = asyncio.create_task(run_dashboard(config, stop=stop))
    try:
        await service.serve(application, stop=stop)
    finally:
        stop.set()
        await dashboard
