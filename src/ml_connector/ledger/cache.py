"""The cache of Visma data (accounts, suppliers, journal references, ...) per connection and kind."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase, upsert
from ml_connector.ledger.schema import master_data


class MasterDataCache(LedgerBase):
    def upsert_master(
        self, connection: str, kind: str, items: Mapping[str, tuple[bool, dict[str, Any]]]
    ) -> None:
        """Insert or update in one statement per row (ON CONFLICT), so that two processes
        refreshing the same connection at once cannot both insert a key. Rows the cache already
        holds as given are not written again (``refreshed_at``: when a row last changed): a cycle
        that finds Visma's master data unchanged writes nothing."""
        if not items:
            return
        now = utcnow()
        with self.tx() as conn:
            held = _held(conn, connection, kind, items)
            rows = [
                {
                    "connection": connection,
                    "kind": kind,
                    "key": key,
                    "active": active,
                    "data": data,
                    "refreshed_at": now,
                }
                for key, (active, data) in items.items()
                if held.get(key) != (active, data)
            ]
            if rows:
                stmt = upsert(
                    conn, master_data, ["connection", "kind", "key"], ["active", "data", "refreshed_at"]
                )
                conn.execute(stmt, rows)

    def replace_master(
        self, connection: str, kind: str, items: Mapping[str, tuple[bool, dict[str, Any]]]
    ) -> None:
        """Full refresh of a kind: anything Visma no longer lists is removed from the cache."""
        with self.tx() as conn:
            conn.execute(
                master_data.delete().where(
                    master_data.c.connection == connection,
                    master_data.c.kind == kind,
                    master_data.c.key.not_in(list(items)),
                )
            )
        self.upsert_master(connection, kind, items)

    def master(self, connection: str, kind: str) -> dict[str, tuple[bool, dict[str, Any]]]:
        with self.tx() as conn:
            q = sa.select(master_data.c.key, master_data.c.active, master_data.c.data).where(
                master_data.c.connection == connection, master_data.c.kind == kind
            )
            return {r.key: (bool(r.active), dict(r.data)) for r in conn.execute(q)}

    def master_of(
        self, connection: str, kind: str, keys: Iterable[str]
    ) -> dict[str, tuple[bool, dict[str, Any]]]:
        """Only the given keys of a kind (for kinds too large to load whole)."""
        wanted = sorted(set(keys))
        out: dict[str, tuple[bool, dict[str, Any]]] = {}
        with self.tx() as conn:
            for start in range(0, len(wanted), 500):
                q = sa.select(master_data.c.key, master_data.c.active, master_data.c.data).where(
                    master_data.c.connection == connection,
                    master_data.c.kind == kind,
                    master_data.c.key.in_(wanted[start : start + 500]),
                )
                out.update({r.key: (bool(r.active), dict(r.data)) for r in conn.execute(q)})
        return out


def _held(
    conn: sa.Connection, connection: str, kind: str, items: Mapping[str, object]
) -> dict[str, tuple[bool, dict[str, Any]]]:
    """What the cache holds of a kind, read whole when ``items`` is most of it (a full refresh),
    else by key (a webhook's one entity, an incremental refresh)."""
    q = sa.select(master_data.c.key, master_data.c.active, master_data.c.data).where(
        master_data.c.connection == connection, master_data.c.kind == kind
    )
    if len(items) <= 500:
        q = q.where(master_data.c.key.in_(list(items)))
    return {r.key: (bool(r.active), dict(r.data)) for r in conn.execute(q)}
