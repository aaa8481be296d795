"""Sync marks: per connection and kind, the newest ``lastModifiedDateTime`` already read from Visma."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase, upsert
from ml_connector.ledger.schema import sync_state


class SyncMarks(LedgerBase):
    def sync_kinds(self, connection: str, prefix: str) -> set[str]:
        """The sync marks recorded for a connection whose kind starts with ``prefix``."""
        with self.tx() as conn:
            q = sa.select(sync_state.c.kind).where(
                sync_state.c.connection == connection, sync_state.c.kind.startswith(prefix, autoescape=True)
            )
            return {str(k) for k in conn.execute(q).scalars()}

    def sync_mark(self, connection: str, kind: str) -> datetime | None:
        with self.tx() as conn:
            q = sa.select(sync_state.c.last_modified).where(
                sync_state.c.connection == connection, sync_state.c.kind == kind
            )
            value = conn.execute(q).scalar_one_or_none()
            return value if isinstance(value, datetime) else None

    def set_sync_mark(self, connection: str, kind: str, last_modified: datetime | None) -> None:
        with self.tx() as conn:
            stmt = upsert(conn, sync_state, ["connection", "kind"], ["last_modified", "synced_at"])
            conn.execute(
                stmt,
                [
                    {
                        "connection": connection,
                        "kind": kind,
                        "last_modified": last_modified,
                        "synced_at": utcnow(),
                    }
                ],
            )
