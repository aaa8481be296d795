"""Run the simulator: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from ml_connector.sim.visma.app import Simulator, SimulatorConfig
from ml_connector.sim.visma.faults import DEFAULT_RATE_LIMIT, RateLimit


@dataclass
class SimulatorOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port chosen by the OS
    seed: str = "demo"
    client_id: str = "ml-connector-sim"
    client_secret: str = "sim-secret-change-me"  # noqa: S105  (simulator credential)
    tenant_id: str | None = None
    company_id: str | None = None
    rate_limit: RateLimit | str = DEFAULT_RATE_LIMIT
    faults: str | None = None
    token_lifetime: int = 3600
    max_page_size: int = 1000
    journal_max_page_size: int = 500
    log_level: str = "warning"

    def config(self) -> SimulatorConfig:
        rate = self.rate_limit if isinstance(self.rate_limit, RateLimit) else RateLimit.parse(self.rate_limit)
        return SimulatorConfig(
            seed=self.seed,
            client_id=self.client_id,
            client_secret=self.client_secret,
            tenant_id=self.tenant_id,
            company_id=self.company_id,
            rate_limit=rate,
            faults=self.faults,
            token_lifetime=self.token_lifetime,
            max_page_size=self.max_page_size,
            journal_max_page_size=self.journal_max_page_size,
        )


class SimulatorServer:
    """A uvicorn server around one :class:`Simulator`, bound to a real loopback socket.

    >>> server = SimulatorServer(SimulatorOptions(seed="demo")).start_in_thread()
    >>> server.api_url, server.token_url, server.client_id  # doctest: +SKIP
    >>> server.stop()
    """

    def __init__(self, options: SimulatorOptions | None = None, **overrides: Any) -> None:
        base = options or SimulatorOptions()
        if overrides:
            base = SimulatorOptions(**{**base.__dict__, **overrides})
        self.options = base
        self.simulator = Simulator(base.config())
        self._socket = socket.socket(socket.AF_INET6 if ":" in base.host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((base.host, base.port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.simulator,
            log_level=base.log_level,
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ addresses and credentials

    @property
    def api_url(self) -> str:
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        return f"http://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.api_url}/connect/token"

    @property
    def client_id(self) -> str:
        return self.simulator.config.client_id

    @property
    def client_secret(self) -> str:
        return self.simulator.config.client_secret

    @property
    def tenant_id(self) -> str:
        return self.simulator.company.tenant_id

    @property
    def company_id(self) -> str:
        return self.simulator.company.company_id

    def describe(self) -> dict[str, Any]:
        return self.simulator.describe(self.api_url)

    # ------------------------------------------------------------------ lifecycle

    def start_in_thread(self, timeout: float = 10.0) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="visma-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the Visma simulator failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError("the Visma simulator did not start in time")
            time.sleep(0.01)
        return self

    def run(self) -> None:
        """Serve in the foreground until interrupted (the CLI)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> SimulatorServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()
