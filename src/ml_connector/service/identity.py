"""``ledger identity`` and ``ledger accept``: which company each connection's ledger history belongs to,
compared with the configuration, and accepting a deliberate change (audited)."""

from __future__ import annotations

from dataclasses import dataclass

from ml_connector.errors import ConfigError
from ml_connector.pipeline.identity import configured_identity, identity_problem
from ml_connector.service.app import App


@dataclass(frozen=True)
class IdentityRow:
    """One connection: the identity recorded in the ledger and the configured one, described as text
    (``None`` where there is none), and why a run would be refused."""

    connection: str
    recorded: str | None
    configured: str | None  # None: recorded in the ledger, no longer in the configuration
    problem: str | None


def identity_rows(app: App) -> list[IdentityRow]:
    """Every configured connection, then every connection only the ledger knows."""
    known = app.ledger.identities()
    names = {c.name for c in app.config.connections}
    rows = []
    for cfg in app.config.connections:
        have = known.get(cfg.name)
        rows.append(
            IdentityRow(
                cfg.name,
                have.describe() if have else None,
                configured_identity(cfg).describe(),
                identity_problem(cfg, known, names),
            )
        )
    rows += [IdentityRow(name, known[name].describe(), None, None) for name in sorted(set(known) - names)]
    return rows


def accept_identity(app: App, connection: str, *, actor: str) -> tuple[str, str | None]:
    """Record the connection's configured identity as its ledger's; (accepted, previous) as text."""
    try:
        cfg = app.config.connection(connection)
    except KeyError:
        names = ", ".join(c.name for c in app.config.connections)
        raise ConfigError(f"no connection named {connection!r}; configured: {names}") from None
    mine = configured_identity(cfg)
    before = app.ledger.accept_identity(cfg.name, mine, actor=actor)
    return mine.describe(), before.describe() if before else None
