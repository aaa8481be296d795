"""The audit trail: one row per change, written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ml_connector.domain.stored import AuditEntry
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase
from ml_connector.ledger.schema import audit

# One statement, its values passed as parameters: SQLAlchemy compiles and caches it once instead of
# building and coercing a new statement for every row (most of the ledger's CPU per document).
_INSERT = audit.insert()


def write_audit(
    conn: Connection,
    *,
    connection: str | None,
    entity: str,
    key: str | None,
    action: str,
    actor: str,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        _INSERT,
        {
            "at": utcnow(),
            "connection": connection,
            "entity": entity,
            "entity_key": key,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "reason": reason,
            "actor": actor,
            "details": dict(details) if details else None,
        },
    )


class AuditLog(LedgerBase):
    # ``ledger.audit(conn, ...)``: other stores write their audit rows inside their own transaction
    audit = staticmethod(write_audit)

    def record_event(
        self,
        *,
        connection: str | None,
        entity: str,
        key: str | None,
        action: str,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """An audit row for an event that changes nothing else (e.g. a security event), committed alone."""
        with self.tx() as conn:
            write_audit(
                conn,
                connection=connection,
                entity=entity,
                key=key,
                action=action,
                actor=actor,
                reason=reason,
                details=details,
            )

    def audit_trail(self, entity: str, key: str) -> list[AuditEntry]:
        with self.tx() as conn:
            q = (
                sa.select(audit)
                .where(audit.c.entity == entity, audit.c.entity_key == key)
                .order_by(audit.c.id)
            )
            return [AuditEntry.of(row) for row in conn.execute(q).mappings()]

    def keys_with_action(self, connection: str, action: str) -> set[str]:
        """The document keys of a connection with an audit row of ``action`` (e.g. found_in_visma)."""
        with self.tx() as conn:
            q = sa.select(audit.c.entity_key).where(
                audit.c.connection == connection, audit.c.entity == "document", audit.c.action == action
            )
            return {str(k) for k in conn.execute(q).scalars() if k is not None}
