"""Everything one connection's cycle needs: its configuration, the ledger, and how to open the ports.

The pipeline never builds an adapter: ``connectors`` opens the ports (``pipeline/ports.py``); the
service layer passes the real ones (``ml_connector.wiring.ADAPTERS``), tests may pass fakes. The
ledger is a port too (``LedgerPort``): ``service.App`` holds the concrete ``ledger/store.py::Ledger``
and hands it over as the port; code that needs more than the port is given the concrete one beside
the runtime, never by casting ``rt.ledger``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector.config.model import ConnectionConfig, PostingConfig
from ml_connector.config.secrets import SecretResolver, default_resolver
from ml_connector.errors import ConfigError
from ml_connector.pipeline.ports import Connectors, LedgerPort, StampliSource, VismaPort
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile


def reader_profile(cfg: ConnectionConfig) -> ReaderProfile:
    """The connection's reader profile, always checking rows against its ``stampli_company_id``:
    a file of another Stampli company is rejected, never posted to this connection's Visma company."""
    if cfg.profile_options:
        # The loader refuses a profile whose company_id differs from the connection's.
        data = {**cfg.profile_options, "company_id": cfg.stampli_company_id}
        try:
            return ReaderProfile.from_mapping(data, name=cfg.profile)
        except ValueError as exc:
            problems = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
            raise ConfigError(f"reader profile {cfg.profile!r} is invalid", problems=problems) from exc
    return BUILTIN_PROFILES[cfg.profile].with_(company_id=cfg.stampli_company_id)


@dataclass
class Runtime:
    """One connection, ready to run: its configuration, the ledger and how to reach both sides."""

    config: ConnectionConfig
    ledger: LedgerPort
    archive_dir: Path
    resolver: SecretResolver = field(default_factory=default_resolver)
    actor: str = "system"
    post_concurrency: int = PostingConfig.concurrency  # service.App passes posting.concurrency
    claim_lease: timedelta = timedelta(minutes=10)
    settle_after: timedelta = timedelta(seconds=60)  # let an in-flight create land before looking it up
    # Opens the Stampli and Visma ports (None: this runtime cannot reach either side).
    connectors: Connectors | None = None
    # Read by the real connectors only (ml_connector.wiring): tests and benchmarks may route the
    # Visma client through a transport; ``budget_factory`` (VismaSettings -> RateBudget) gives each
    # client its rate budget (None: one in-process budget per client). The scaled-out workers pass
    # one kept in PostgreSQL, shared by every worker (ml_connector.scale.budget).
    visma_transport: Any = None
    budget_factory: Callable[[Any], Any] | None = None
    # Where the Visma clients keep their token beyond one client (adapters.visma.auth.TokenStore;
    # None: each client fetches its own). The scaled-out workers pass one per worker process.
    token_store: Any = None
    on_progress: Callable[[str, int, int], None] | None = None
    # Every connection configured alongside this one: the ledger identity check tells a renamed
    # connection (its old name gone) from two configured ones (ml_connector.pipeline.identity).
    configured_names: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.config.name

    def _connectors(self) -> Connectors:
        if self.connectors is None:
            raise ConfigError(f"connection {self.name!r}: no connectors wired to reach Stampli or Visma")
        return self.connectors

    def visma(self, *, quick: bool = False) -> AbstractAsyncContextManager[VismaPort]:
        """``quick``: a probe (``check``) with a short timeout and one retry, not the cycle's patience."""
        return self._connectors().visma(self, quick=quick)

    def stampli(self, *, quick: bool = False) -> AbstractAsyncContextManager[StampliSource]:
        return self._connectors().stampli(self, quick=quick)

    def profile(self) -> ReaderProfile:
        return reader_profile(self.config)
