"""Whose history a ledger holds: per connection, the Stampli company and the Visma tenant and
company it posts for. Recorded on first use; ``ml_connector.pipeline.identity`` refuses a cycle
whose configuration no longer matches, and ``ml-connector ledger accept`` records a deliberate change.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ml_connector.ledger.schema import connection_identity
from ml_connector.ledger.store import Ledger, utcnow


@dataclass(frozen=True)
class Identity:
    stampli_company_id: str
    visma_tenant_id: str
    visma_company_id: str

    def describe(self) -> str:
        return (
            f"Stampli company {self.stampli_company_id}, "
            f"Visma tenant {self.visma_tenant_id} company {self.visma_company_id}"
        )

    def changes(self, new: Identity) -> list[str]:
        """What differs from ``new``, each naming the configuration key, e.g. for an error message."""
        out = []
        for key, label, old_value, new_value in (
            ("stampli_company_id", "Stampli company", self.stampli_company_id, new.stampli_company_id),
            ("visma.tenant_id", "Visma tenant", self.visma_tenant_id, new.visma_tenant_id),
            ("visma.company_id", "Visma company", self.visma_company_id, new.visma_company_id),
        ):
            if old_value != new_value:
                out.append(f"{label} was {old_value}, the configuration now says {new_value} ({key})")
        return out


def recorded(ledger: Ledger) -> dict[str, Identity]:
    """Every connection's recorded identity, by connection name."""
    with ledger.tx() as conn:
        rows = conn.execute(sa.select(connection_identity)).mappings().all()
    return {
        str(r["connection"]): Identity(
            str(r["stampli_company_id"]), str(r["visma_tenant_id"]), str(r["visma_company_id"])
        )
        for r in rows
    }


def record_first(ledger: Ledger, connection: str, identity: Identity, *, actor: str) -> Identity:
    """Record ``identity`` unless one is recorded already; returns the one that stands (a process
    racing us may have recorded first)."""
    try:
        with ledger.tx() as conn:
            _store(
                ledger,
                conn,
                connection,
                identity,
                actor,
                action="identity_recorded",
                reason=f"first use of this ledger: {identity.describe()}",
            )
        return identity
    except IntegrityError:
        return recorded(ledger)[connection]


def accept(ledger: Ledger, connection: str, identity: Identity, *, actor: str) -> Identity | None:
    """Record ``identity`` as this connection's on purpose (audited); returns the one it replaced."""
    before = recorded(ledger).get(connection)
    with ledger.tx() as conn:
        conn.execute(connection_identity.delete().where(connection_identity.c.connection == connection))
        was = f" (was {before.describe()})" if before else " (nothing recorded before)"
        _store(
            ledger,
            conn,
            connection,
            identity,
            actor,
            action="identity_accepted",
            reason=f"accepted on purpose: {identity.describe()}{was}",
        )
    return before


def _values(connection: str, identity: Identity, actor: str) -> dict[str, object]:
    return {
        "connection": connection,
        "stampli_company_id": identity.stampli_company_id,
        "visma_tenant_id": identity.visma_tenant_id,
        "visma_company_id": identity.visma_company_id,
        "recorded_at": utcnow(),
        "recorded_by": actor,
    }


def _store(
    ledger: Ledger,
    conn: Connection,
    connection: str,
    identity: Identity,
    actor: str,
    *,
    action: str,
    reason: str,
) -> None:
    """Write the connection's identity and the audit row saying why, in the caller's transaction."""
    conn.execute(connection_identity.insert().values(_values(connection, identity, actor)))
    ledger.audit(
        conn,
        connection=connection,
        entity="connection",
        key=connection,
        action=action,
        actor=actor,
        reason=reason,
    )
