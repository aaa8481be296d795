"""A ledger knows whose it is (issue 12.4).

Its history (what was posted, under which reference) is only true for one Stampli company and one
Visma tenant and company. On a connection's first cycle the ledger records them; afterwards a
cycle is refused when the configuration points the connection elsewhere, or when a connection new
to the ledger has the identity of another one (a rename would make its history look new and post
everything again). ``ml-connector ledger accept NAME`` records a deliberate change.
"""

from __future__ import annotations

from collections.abc import Collection

from ml_connector.config.model import ConnectionConfig
from ml_connector.domain.identity import Identity
from ml_connector.errors import LedgerIdentityError
from ml_connector.pipeline.runtime import Runtime


def configured_identity(cfg: ConnectionConfig) -> Identity:
    return Identity(cfg.stampli_company_id, cfg.visma.tenant_id, cfg.visma.company_id)


def identity_problem(
    cfg: ConnectionConfig, known: dict[str, Identity], configured: Collection[str] = ()
) -> str | None:
    """Why the ledger must not be used for ``cfg`` as configured (None: it may). ``configured``:
    the names of the connections configured alongside; a known connection with the same identity
    that is no longer configured is what a rename looks like."""
    mine = configured_identity(cfg)
    accept = f"`ml-connector ledger accept {cfg.name}`"
    have = known.get(cfg.name)
    if have is None:
        twins = sorted(name for name, other in known.items() if other == mine and name not in configured)
        if not twins:
            return None
        names = ", ".join(repr(n) for n in twins)
        return (
            f"connection {cfg.name!r} is new to this ledger, but {names} already posted for "
            f"{mine.describe()}; "
            f"if {cfg.name!r} is a renamed connection, give it its old name back in the configuration "
            f"(under a new name its history looks new and everything would be posted again); "
            f"to run it as a separate connection on purpose, run {accept}"
        )
    if have == mine:
        return None
    return (
        f"this ledger holds the history of connection {cfg.name!r} for {have.describe()}, "
        f"but {'; '.join(have.changes(mine))}. Its history does not belong to the new company: "
        f"point the connection back, or use a separate ledger for the other company; if this is a "
        f"deliberate move of the same history (e.g. a renamed company id), run {accept}"
    )


def ensure_identity(rt: Runtime) -> None:
    """Record the identity on first use, and refuse a connection whose configuration changed it."""
    known = rt.ledger.identities()
    problem = identity_problem(rt.config, known, rt.configured_names)
    if problem is None and rt.name not in known:
        stands = rt.ledger.record_identity(rt.name, configured_identity(rt.config), actor=rt.actor)
        problem = identity_problem(rt.config, {rt.name: stands})
    if problem is not None:
        raise LedgerIdentityError(problem)
