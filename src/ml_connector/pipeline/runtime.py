"""Everything one connection's cycle needs, built from the configuration in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector.adapters.sftp.settings import SftpSettings
from ml_connector.adapters.sftp.source import SftpSource
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.ratelimit import RateBudget
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.config.model import ConnectionConfig
from ml_connector.config.secrets import SecretResolver, default_resolver
from ml_connector.errors import ConfigError
from ml_connector.ledger.store import Ledger
from ml_connector.retry import VISMA_POLICY, RetryPolicy
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile

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
    ledger: Ledger
    archive_dir: Path
    resolver: SecretResolver = field(default_factory=default_resolver)
    actor: str = "system"
    post_concurrency: int = 4
    claim_lease: timedelta = timedelta(minutes=10)
    settle_after: timedelta = timedelta(seconds=60)  # let an in-flight create land before looking it up
    visma_transport: Any = None  # tests and benchmarks may route the client through a transport
    # The rate budget of each Visma client (None: one in-process budget per client). The scaled-out
    # workers pass one kept in PostgreSQL, shared by every worker (ml_connector.scale.budget).
    budget_factory: Callable[[VismaSettings], RateBudget] | None = None
    on_progress: Callable[[str, int, int], None] | None = None
    # Every connection configured alongside this one: the ledger identity check tells a renamed
    # connection (its old name gone) from two configured ones (ml_connector.pipeline.identity).
    configured_names: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.config.name

    def visma(self, *, quick: bool = False) -> VismaClient:
        """``quick``: a probe (``check``) with a short timeout and one retry, not the cycle's patience."""
        settings = visma_settings(self.config, self.resolver)
        if quick:
            settings = replace(settings, timeout=min(settings.timeout, QUICK_TIMEOUT))
        budget = self.budget_factory(settings) if self.budget_factory is not None else None
        policy = QUICK_POLICY if quick else VISMA_POLICY
        return VismaClient(settings, transport=self.visma_transport, budget=budget, policy=policy)

    def sftp(self, *, quick: bool = False) -> SftpSource:
        settings = sftp_settings(self.config, self.resolver)
        if quick:
            settings = replace(settings, connect_timeout=min(settings.connect_timeout, QUICK_TIMEOUT))
            return SftpSource(settings, policy=QUICK_POLICY)
        return SftpSource(settings)

    def profile(self) -> ReaderProfile:
        return reader_profile(self.config)
