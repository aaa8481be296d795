"""Whose history a ledger holds: per connection, the Stampli company and the Visma tenant and
company it posts for (``domain.identity.Identity``). Recorded on first use;
``ml_connector.pipeline.identity`` refuses a cycle whose configuration no longer matches, and
``ml-connector ledger accept`` records a deliberate change.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ml_connector.domain.identity import Identity
from ml_connector.ledger.audit import write_audit
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase
from ml_connector.ledger.schema import connection_identity

__all__ = ["Identity", "IdentityRecords"]


class IdentityRecords(LedgerBase):
    def identities(self) -> dict[str, Identity]:
        """Every connection's recorded identity, by connection name."""
        with self.tx() as conn:
            rows = conn.execute(sa.select(connection_identity)).mappings().all()
        return {
            str(r["connection"]): Identity(
                str(r["stampli_company_id"]), str(r["visma_tenant_id"]), str(r["visma_company_id"])
            )
            for r in rows
        }

    def record_identity(self, connection: str, identity: Identity, *, actor: str) -> Identity:
        """Record ``identity`` unless one is recorded already; returns the one that stands (a process
        racing us may have recorded first)."""
        try:
            with self.tx() as conn:
                _store(
                    conn,
                    connection,
                    identity,
                    actor,
                    action="identity_recorded",
                    reason=f"first use of this ledger: {identity.describe()}",
                )
            return identity
        except IntegrityError:
            return self.identities()[connection]

    def accept_identity(self, connection: str, identity: Identity, *, actor: str) -> Identity | None:
        """Record ``identity`` as this connection's on purpose (audited); returns the one it replaced."""
        before = self.identities().get(connection)
        with self.tx() as conn:
            conn.execute(connection_identity.delete().where(connection_identity.c.connection == connection))
            was = f" (was {before.describe()})" if before else " (nothing recorded before)"
            _store(
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
    write_audit(
        conn,
        connection=connection,
        entity="connection",
        key=connection,
        action=action,
        actor=actor,
        reason=reason,
    )
