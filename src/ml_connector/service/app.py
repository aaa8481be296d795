"""Loading an application: the configuration, the ledger and the secret resolver, once."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector import wiring
from ml_connector.config.loader import config_resolver, load_config
from ml_connector.config.model import AppConfig
from ml_connector.config.secrets import SecretRef, SecretResolver
from ml_connector.errors import (
    ConfigError,
    NothingEnabledError,
)
from ml_connector.ledger.store import Ledger
from ml_connector.pipeline.runtime import Runtime
from ml_connector.private_files import private_dir
from ml_connector.redaction import remember_secret
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.webhooks.notice import Entity
from ml_connector.webhooks.receiver import Receiver
from ml_connector.webhooks.stale import StaleEntities


class RememberingResolver:
    """Resolves secrets and registers each value with the log redactor on the way out."""

    def __init__(self, inner: SecretResolver) -> None:
        self.inner = inner

    def resolve(self, ref: SecretRef) -> str:
        value = self.inner.resolve(ref)
        remember_secret(value)
        return value


@dataclass
class App:
    config: AppConfig
    ledger: Ledger
    resolver: SecretResolver
    runtime_options: dict[str, Any] = field(default_factory=dict)
    stale: StaleEntities = field(default_factory=StaleEntities)  # notified by Visma's webhooks
    # One Visma token per client identity for this process, reused by every cycle, export and job
    # of ``run``, ``serve`` and a scaled-out worker until it is renewed before expiry.
    tokens: Any = field(default_factory=wiring.token_store)

    @functools.cached_property
    def webhooks(self) -> Receiver | None:
        """The receiver of Visma's notifications when ``[webhooks]`` is enabled (one per process)."""
        cfg = self.config.webhooks
        if cfg is None or not cfg.enabled:
            return None
        return Receiver(cfg, cfg.secret.resolve(self.resolver), lambda: self.config.connections, self._stale)

    async def _stale(self, connection: str, entity: Entity) -> None:
        self.stale.mark(connection, entity)

    def runtime(self, name: str, *, actor: str = "system", config: AppConfig | None = None) -> Runtime:
        """The runtime of one connection of ``config`` (the loaded one by default; the scaled-out worker
        passes the configuration it reloaded, rather than replacing this App's)."""
        config = self.config if config is None else config
        try:
            cfg = config.connection(name)
        except KeyError:
            names = ", ".join(c.name for c in config.connections) or "(none)"
            raise ConfigError(f"no connection named {name!r}; configured: {names}") from None
        archive = private_dir(config.path.parent / "archive" / cfg.name)
        return Runtime(
            config=cfg,
            ledger=self.ledger,
            archive_dir=archive,
            resolver=self.resolver,
            actor=actor,
            configured_names=frozenset(c.name for c in config.connections),
            **{
                "connectors": wiring.ADAPTERS,
                "token_store": self.tokens,
                "post_concurrency": cfg.posting.concurrency,
                **self.runtime_options,
            },
        )

    def runtimes(self, only: str | None = None, *, actor: str = "system") -> list[Runtime]:
        if only is not None:
            return [self.runtime(only, actor=actor)]
        return [self.runtime(c.name, actor=actor) for c in self.config.enabled_connections]

    def runtimes_to_run(self, only: str | None = None, *, actor: str = "system") -> list[Runtime]:
        """Like ``runtimes``, but refuses when there is nothing to run: ``run`` and ``check`` must
        not report success for a configuration whose every connection is disabled."""
        found = self.runtimes(only, actor=actor)
        if not found:
            disabled = ", ".join(c.name for c in self.config.connections) or "none configured"
            raise NothingEnabledError(
                f"no connection is enabled in {self.config.path} (disabled: {disabled}), so nothing "
                "was done; set enabled = true in a [connections.NAME] table"
            )
        return found

    def close(self) -> None:
        self.ledger.close()


SETTLE_AFTER_ENV = "ML_CONNECTOR_SETTLE_AFTER"


def settle_after_from_env(environ: Mapping[str, str]) -> timedelta | None:
    """``ML_CONNECTOR_SETTLE_AFTER`` (seconds, >= 0): how long an unknown outcome waits before its
    lookup in Visma (``Runtime.settle_after``, 60 s when unset). The crash and fault tests set 0."""
    text = environ.get(SETTLE_AFTER_ENV, "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise ConfigError(f"{SETTLE_AFTER_ENV} must be a number of seconds between 0 and 86400")
    return timedelta(seconds=seconds)


def profile_problems(name: str, table: Mapping[str, Any]) -> list[str]:
    """Every problem of a ``[profiles.NAME]`` table, so they are reported with the others."""
    try:
        ReaderProfile.from_mapping(table, name=name)
    except ValueError as exc:
        found = exc.args[0] if exc.args else str(exc)
        return [str(p) for p in found] if isinstance(found, list) else [str(found)]
    return []


def open_app(config_path: Path, *, environ: Mapping[str, str] | None = None, **runtime_options: Any) -> App:
    env = os.environ if environ is None else environ
    # env: and, with a [vault] table, vault: references; [profiles.*] tables checked at load too
    config = load_config(config_path, environ=env, profile_validator=profile_problems)
    resolver = RememberingResolver(config_resolver(config, env))
    if "settle_after" not in runtime_options:
        settle_after = settle_after_from_env(env)
        if settle_after is not None:
            runtime_options["settle_after"] = settle_after
    return App(config, Ledger.open(config.ledger_url), resolver, dict(runtime_options))
