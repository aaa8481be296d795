"""The composition root: builds the adapters from a connection's configuration.

The pipeline only sees ports (``pipeline/ports.py``); this is where they are made real.
``App.runtime`` hands ``ADAPTERS`` to every ``Runtime``; the operations that need the whole client
or the whole SFTP session (vendor and coding-list exports, ``check``'s folder probe) build it here too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ml_connector.adapters.sftp.settings import SftpSettings
from ml_connector.adapters.sftp.source import SftpSource
from ml_connector.adapters.visma.auth import TokenStore
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.ports import VismaPorts
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.config.model import ConnectionConfig
from ml_connector.config.secrets import SecretResolver
from ml_connector.pipeline.runtime import Runtime
from ml_connector.retry import VISMA_POLICY, RetryPolicy

# A probe (``check``) answers within seconds when a side is down: short connect and read timeouts
# and one quick retry, instead of the minutes of backoff a cycle allows itself.
QUICK_TIMEOUT = 4.0
QUICK_POLICY = RetryPolicy(attempts=2, base_delay=0.5, max_delay=1.0, total_timeout=8.0)


def visma_settings(cfg: ConnectionConfig, resolver: SecretResolver) -> VismaSettings:
    v = cfg.visma
    return VismaSettings(
        client_id=v.client_id,
        client_secret=v.client_secret.resolve(resolver),
        tenant_id=v.tenant_id,
        company_id=v.company_id,
        api_url=v.api_url,
        token_url=v.token_url,
        timeout=v.timeout,
        ca_bundle=str(v.ca_bundle) if v.ca_bundle else None,
        server_timezone=v.timezone,
    )


def sftp_settings(cfg: ConnectionConfig, resolver: SecretResolver) -> SftpSettings:
    s = cfg.sftp
    key: str | None = None
    if s.private_key is not None:
        key = s.private_key.resolve(resolver)
    elif s.private_key_file is not None:
        key = Path(s.private_key_file).read_text()
    return SftpSettings(
        host=s.host,
        port=s.port,
        username=s.username,
        password=s.password.resolve(resolver) if s.password else None,
        private_key=key,
        private_key_passphrase=s.private_key_passphrase.resolve(resolver)
        if s.private_key_passphrase
        else None,
        host_key=s.host_key,
        connect_timeout=s.connect_timeout,
        min_file_age=float(s.min_file_age),
        archive_folder=s.archive_folder,
        config_key=f"connections.{cfg.name}.sftp",
    )


def token_store() -> TokenStore:
    """Where a process keeps its Visma tokens (``App.tokens``): one per client identity."""
    return TokenStore()


def visma_client(rt: Runtime, *, quick: bool = False) -> VismaClient:
    """``quick``: a probe (``check``) with a short timeout and one retry, not the cycle's patience.
    A probe also fetches its own token: it checks the credentials, a cached token would not."""
    settings = visma_settings(rt.config, rt.resolver)
    if quick:
        settings = replace(settings, timeout=min(settings.timeout, QUICK_TIMEOUT))
    budget = rt.budget_factory(settings) if rt.budget_factory is not None else None
    policy = QUICK_POLICY if quick else VISMA_POLICY
    tokens = None if quick else rt.token_store
    return VismaClient(settings, transport=rt.visma_transport, budget=budget, policy=policy, tokens=tokens)


def sftp_source(rt: Runtime, *, quick: bool = False) -> SftpSource:
    settings = sftp_settings(rt.config, rt.resolver)
    if quick:
        settings = replace(settings, connect_timeout=min(settings.connect_timeout, QUICK_TIMEOUT))
        return SftpSource(settings, policy=QUICK_POLICY)
    return SftpSource(settings)


class AdapterConnectors:
    """The real ports: Stampli over SFTP, Visma over its REST API (posting as journal transactions,
    and invoices as supplier invoices when the connection's ``posting.target`` says so)."""

    def visma(self, rt: Runtime, *, quick: bool = False) -> VismaPorts:
        supplier_ledger = rt.config.posting.target == "supplier_invoice"
        return VismaPorts(visma_client(rt, quick=quick), supplier_ledger=supplier_ledger)

    def stampli(self, rt: Runtime, *, quick: bool = False) -> SftpSource:
        return sftp_source(rt, quick=quick)


ADAPTERS = AdapterConnectors()
