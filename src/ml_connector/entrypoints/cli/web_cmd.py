"""``ml-connector dashboard``: the web dashboard alone, for operators who run the cycles elsewhere."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ml_connector import service
from ml_connector.entrypoints.cli.app import app
from ml_connector.logs import configure

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ML_CONNECTOR_CONFIG", help="The configuration file."),
]
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")]
PortOpt = Annotated[int, typer.Option("--port", help="Port of the dashboard.")]
CertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="PEM certificate: serve HTTPS (cookies become Secure).")
]
KeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")]


@app.command("dashboard")
def dashboard(
    config: ConfigOpt = Path("ml-connector.toml"),
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8470,
    tls_cert: CertOpt = None,
    tls_key: KeyOpt = None,
) -> None:
    """Serve the dashboard (pages and /api) without running cycles, until SIGINT/SIGTERM."""
    from ml_connector.web.server import dashboard_only, uvicorn_config

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give --tls-cert and --tls-key together")
    application = service.open_app(config)
    log = application.config.log
    configure(log.level, log.format, log.file)
    scheme = "https" if tls_cert else "http"
    typer.echo(f"dashboard on {scheme}://{host}:{port}/ (add users with `ml-connector users add`)")
    try:
        asyncio.run(
            dashboard_only(
                uvicorn_config(application, host, port, ssl_certfile=tls_cert, ssl_keyfile=tls_key)
            )
        )
    finally:
        application.close()
