"""CLI command ``sim visma``: the Visma.net ERP simulator (see docs/simulator.md)."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from ml_connector.entrypoints.cli.app import sim_app
from ml_connector.errors import ConfigError
from ml_connector.sim.visma.faults import Faults, RateLimit
from ml_connector.sim.visma.seed import SEEDS

FAULTS_HELP = (
    "Comma-separated faults, e.g. 'latency=20ms,5xx=0.1,drop_after_commit=0.05,token_ttl=2s,seed=42'. "
    "Keys: latency (ms|s), 5xx (probability of a 500 before processing), 5xx_next (next N requests), "
    "drop_after_commit (probability that a journal create is committed and the connection then dropped "
    "without a response), drop_next (next N creates), token_ttl (tokens die early though expires_in "
    "says 3600), seed (random seed). Change at runtime with POST /_sim/faults."
)


@sim_app.command("visma")
def sim_visma_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 0,
    seed: Annotated[str, typer.Option(help=f"Initial data: {' or '.join(SEEDS)}.")] = "demo",
    client_id: Annotated[str, typer.Option(help="OAuth client id the token endpoint accepts.")] = (
        "ml-connector-sim"
    ),
    client_secret: Annotated[
        str | None, typer.Option(help="OAuth client secret (default: random, printed on start).")
    ] = None,
    tenant_id: Annotated[
        str | None, typer.Option(help="Company tenant id (default: a fixed demo GUID).")
    ] = None,
    company_id: Annotated[
        str | None, typer.Option(help="Value required in the ipp-company-id header.")
    ] = None,
    rate_limit: Annotated[
        str, typer.Option(help="Fixed-window limit per client and tenant, N/SECONDS.")
    ] = "15000/3600",
    faults: Annotated[str | None, typer.Option(help=FAULTS_HELP)] = None,
) -> None:
    """Run the Visma.net ERP simulator until Ctrl-C. Prints its URLs and credentials on start."""
    if seed not in SEEDS:
        raise ConfigError(f"--seed must be one of {', '.join(SEEDS)}")
    try:
        rate = RateLimit.parse(rate_limit)
        Faults.parse(faults)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    from ml_connector.sim.visma.server import SimulatorOptions, SimulatorServer  # the web stack

    options = SimulatorOptions(
        host=host,
        port=port,
        seed=seed,
        client_id=client_id,
        client_secret=client_secret or secrets.token_urlsafe(18),
        tenant_id=tenant_id,
        company_id=company_id,
        rate_limit=rate,
        faults=faults,
        log_level="info",
    )
    server = SimulatorServer(options)
    info = server.describe()
    typer.echo(f"Visma.net simulator ({info['company_name']}, seed {seed})")
    typer.echo(f"api_url:        {info['api_url']}")
    typer.echo(f"token_url:      {info['token_url']}")
    typer.echo(f"client_id:      {info['client_id']}")
    typer.echo(f"client_secret:  {info['client_secret']}")
    typer.echo(f"tenant_id:      {info['tenant_id']}")
    typer.echo(f"company_id:     {info['company_id']}  (send as the ipp-company-id header)")
    typer.echo(f"rate_limit:     {info['rate_limit']}")
    typer.echo(f"faults:         {faults or 'none'}")
    typer.echo(f"test endpoints: {info['api_url']}/_sim/stats, /_sim/journal, /_sim/config (not Visma API)")
    typer.echo("Ctrl-C to stop.")
    server.run()
