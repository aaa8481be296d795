"""Failures: what a person (or a master-data change) must resolve, each with its audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ml_connector.domain.stored import StoredFailure
from ml_connector.ledger.audit import write_audit
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase, inserted_id
from ml_connector.ledger.schema import failures


def add_failure(
    conn: Connection,
    *,
    connection: str,
    category: str,
    code: str,
    reason: str,
    document_id: int | None = None,
    file_id: int | None = None,
    doc_key: str | None = None,
    visma_answer: str | None = None,
    missing: list[dict[str, str]] | None = None,
    source: Any = None,
    raw: str | None = None,
) -> int:
    res = conn.execute(
        failures.insert().values(
            connection=connection,
            document_id=document_id,
            file_id=file_id,
            doc_key=doc_key,
            category=category,
            code=code,
            reason=reason,
            visma_answer=visma_answer,
            missing=missing,
            source=source,
            raw=raw,
            status="open",
            created_at=utcnow(),
        )
    )
    return inserted_id(res)


def close_failures(
    conn: Connection, ids: Iterable[int], *, connection: str | None, action: str, actor: str, reason: str
) -> None:
    """Mark open failures resolved, each with its audit row (``action`` says why: resolved, set_aside)."""
    for fid in list(ids):
        conn.execute(
            failures.update()
            .where(failures.c.id == fid)
            .values(status="resolved", resolved_at=utcnow(), resolved_by=actor)
        )
        write_audit(
            conn,
            connection=connection,
            entity="failure",
            key=str(fid),
            action=action,
            from_status="open",
            to_status="resolved",
            reason=reason,
            actor=actor,
        )


class FailureRecords(LedgerBase):
    def record_failure(self, *, connection: str, actor: str, **fields: Any) -> int:
        """A failure without a document (a rejected file, a record that could not be read)."""
        with self.tx() as conn:
            fid = add_failure(conn, connection=connection, **fields)
            write_audit(
                conn,
                connection=connection,
                entity="failure",
                key=str(fid),
                action="opened",
                to_status="open",
                reason=str(fields.get("reason")),
                actor=actor,
                details={"code": fields.get("code"), "category": fields.get("category")},
            )
            return fid

    def open_failures(self, connection: str | None = None) -> list[StoredFailure]:
        with self.tx() as conn:
            q = sa.select(failures).where(failures.c.status == "open")
            if connection is not None:
                q = q.where(failures.c.connection == connection)
            return [StoredFailure.of(row) for row in conn.execute(q.order_by(failures.c.id)).mappings()]

    def failure(self, failure_id: int) -> StoredFailure | None:
        with self.tx() as conn:
            q = sa.select(failures).where(failures.c.id == failure_id)
            row = conn.execute(q).mappings().first()
            return None if row is None else StoredFailure.of(row)

    def resolve_failures(
        self, doc_id: int | None = None, *, actor: str, reason: str, file_id: int | None = None
    ) -> None:
        """Close the open failures of a document, or those of a file that have no document."""
        with self.tx() as conn:
            q = sa.select(failures.c.id).where(failures.c.status == "open")
            if doc_id is not None:
                q = q.where(failures.c.document_id == doc_id)
            elif file_id is not None:
                q = q.where(failures.c.file_id == file_id, failures.c.document_id.is_(None))
            else:
                raise ValueError("resolve_failures needs a document or a file")
            ids = [int(fid) for fid in conn.execute(q).scalars()]
            close_failures(conn, ids, connection=None, action="resolved", actor=actor, reason=reason)
