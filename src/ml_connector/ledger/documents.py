"""Documents: inserted once per key, then moved between states only by compare-and-set
(``UPDATE ... WHERE status = old``), each change with its audit row in the same transaction.

Which changes exist is ``states.TRANSITIONS``; ``_change`` is the one place that writes a
document's status (``move_file_documents_in``: many at once, a file's documents). Reads hand out
``domain.stored.StoredDocument`` (rows are converted here, once)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ml_connector.domain.stored import StoredDocument
from ml_connector.errors import LedgerError
from ml_connector.ledger.audit import write_audit
from ml_connector.ledger.claims import worker_id
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase, inserted_id
from ml_connector.ledger.failures import add_failure
from ml_connector.ledger.moves import Move, NewDocument
from ml_connector.ledger.schema import audit, documents, failures
from ml_connector.ledger.states import CLAIM_COLUMNS, DocStatus, Transition, step


class DocumentRecords(LedgerBase):
    def document(self, connection: str, key: str) -> StoredDocument | None:
        with self.tx() as conn:
            q = sa.select(documents).where(documents.c.connection == connection, documents.c.doc_key == key)
            row = conn.execute(q).mappings().first()
            return None if row is None else StoredDocument.of(row)

    def document_by_id(self, doc_id: int) -> StoredDocument:
        with self.tx() as conn:
            return read_document(conn, doc_id)

    def insert_document(
        self, values: Mapping[str, Any], *, status: str, actor: str, reason: str
    ) -> int | None:
        """Insert a new document; ``None`` when another process inserted the same key first."""
        try:
            with self.tx() as conn:
                return insert_in(conn, values, status=status, actor=actor, reason=reason)
        except IntegrityError:
            return None

    def insert_documents(self, items: Sequence[NewDocument], *, actor: str) -> list[int | None]:
        """``insert_document`` for many documents in one transaction (one commit: intake guards no
        effect on Visma, so it needs no commit per document; a crash loses only what reading the
        file again inserts again). ``None`` for a key already there (the caller looked each key up
        first; one that another process inserted meanwhile makes the group run again one by one)."""
        try:
            with self.tx() as conn:
                return [
                    insert_in(conn, v, status=status, actor=actor, reason=reason)
                    for v, status, reason in items
                ]
        except IntegrityError:  # a key already there: the group is rolled back, each inserted alone
            return [self.insert_document(v, status=st, actor=actor, reason=r) for v, st, r in items]

    def transition(
        self,
        doc_id: int,
        event: str,
        to_status: str | None = None,
        *,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        """Apply ``event`` (a key of ``states.TRANSITIONS``) by compare-and-set, with its audit
        row; ``values`` are the columns the event records. False if the document was not in one
        of the event's from-states (another worker moved it first).

        ``expect`` adds columns that must still hold the values the caller decided on (e.g. the
        ``attempts`` it read): a document that went round its states meanwhile is not touched."""
        move = Move(event, to_status, reason=reason, details=details, expect=expect, values=values)
        with self.tx() as conn:
            return apply_moves(conn, doc_id, [move], actor=actor)

    def transition_each(self, moves: Sequence[tuple[int, Move]], *, actor: str) -> list[bool]:
        """One move for each of several documents, in one transaction: for records that guard no
        effect on Visma (a note on many documents), so they need no commit of their own each."""
        with self.tx() as conn:
            return [apply_moves(conn, doc_id, [move], actor=actor) for doc_id, move in moves]

    def claim(self, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta) -> bool:
        """pending -> posting: record the intent (voucher, period) before anything is sent."""
        with self.tx() as conn:
            return claim_in(conn, doc_id, voucher=voucher, period=period, lease=lease)

    def documents_with_status(self, connection: str, statuses: Sequence[str]) -> list[StoredDocument]:
        with self.tx() as conn:
            return read_with_status(conn, connection, statuses)

    def all_documents(self, connection: str | None = None) -> list[StoredDocument]:
        with self.tx() as conn:
            q = sa.select(documents)
            if connection is not None:
                q = q.where(documents.c.connection == connection)
            return [StoredDocument.of(row) for row in conn.execute(q.order_by(documents.c.id)).mappings()]

    def reading_count(self, connection: str, file_id: int) -> int:
        """How many documents wait for the file ``file_id`` (status ``reading``)."""
        with self.tx() as conn:
            q = sa.select(sa.func.count()).where(
                documents.c.connection == connection,
                documents.c.status == DocStatus.READING,
                documents.c.file_id == file_id,
            )
            return int(conn.execute(q).scalar_one())

    def status_counts(self, connection: str | None = None) -> dict[str, int]:
        with self.tx() as conn:
            q = sa.select(documents.c.status, sa.func.count()).group_by(documents.c.status)
            if connection is not None:
                q = q.where(documents.c.connection == connection)
            return {str(status): int(n) for status, n in conn.execute(q)}

    def replace_source(
        self,
        doc_id: int,
        *,
        source: dict[str, Any],
        raw: str | None,
        content_hash: str,
        file_id: int,
        actor: str,
        to_status: str = "pending",
    ) -> bool:
        """A corrected re-export of a document that never reached Visma replaces the stored one;
        ``reading`` when it came in a file still being read."""
        return self.transition(
            doc_id,
            "superseded",
            to_status,
            actor=actor,
            reason="a re-export with changed content replaced the stored document before it was posted",
            details={"content_hash": content_hash, "file_id": file_id},
            source=source,
            raw=raw,
            content_hash=content_hash,
            file_id=file_id,
        )

    def park(self, doc_id: int, event: str, **kwargs: Any) -> bool:
        """Apply a parking ``event`` (one that opens a failure): the document moves to ``parked``
        and its failure is opened, in one transaction. The arguments: ``park_in``'s."""
        with self.tx() as conn:
            return park_in(conn, doc_id, event, **kwargs)


# The operations themselves, on an open transaction: the methods above run each in a transaction of
# its own; the posting path's awaited calls (``ledger.awaited``) run them in the writer thread, many
# documents per commit. Either way each is one compare-and-set with its audit row.


def insert_in(conn: Connection, values: Mapping[str, Any], *, status: str, actor: str, reason: str) -> int:
    """Insert a new document with its audit row; raises ``IntegrityError`` if its key exists."""
    received = step("received")
    status = received.target(status)
    now = utcnow()
    res = conn.execute(documents.insert(), {**values, "status": status, "created_at": now, "updated_at": now})
    doc_id = inserted_id(res)
    write_audit(
        conn,
        connection=values["connection"],
        entity="document",
        key=values["doc_key"],
        action=received.action,
        to_status=status,
        reason=reason,
        actor=actor,
        details={"content_hash": values["content_hash"], "file_id": values.get("file_id")},
    )
    return doc_id


def move_file_documents_in(
    conn: Connection, event: str, *, connection: str, file_id: int, actor: str, reason: str
) -> int:
    """Apply a one-source, one-target ``event`` to every document of ``file_id`` in its from-state:
    their audit rows in one ``INSERT ... SELECT``, then one ``UPDATE`` (no round trip per document:
    a file holds up to millions). The documents of one status of one connection are found by
    ``ix_documents_status``; ``reading`` ones are only those of files being read or broken off."""
    change = step(event)
    (source,) = change.sources
    target = change.target(None)
    if change.records or change.ends_claim or change.opens_failure:
        raise ValueError(f"event {event!r} records more than a status: not a bulk move")
    mine = (
        documents.c.connection == connection,
        documents.c.status == source,
        documents.c.file_id == file_id,
    )
    now = utcnow()
    audited = {
        "at": sa.literal(now, audit.c.at.type),
        "entity": sa.literal("document", audit.c.entity.type),
        "action": sa.literal(change.action, audit.c.action.type),
        "from_status": sa.literal(source, audit.c.from_status.type),
        "to_status": sa.literal(target, audit.c.to_status.type),
        "reason": sa.literal(reason, audit.c.reason.type),
        "actor": sa.literal(actor, audit.c.actor.type),
    }
    if conn.dialect.name == "postgresql":
        # one statement: the rows the UPDATE moved are the rows audited, whatever another
        # transaction does meanwhile (read committed)
        moved = (
            documents.update()
            .where(*mine)
            .values(status=target, updated_at=now)
            .returning(documents.c.connection, documents.c.doc_key)
            .cte("moved")
        )
        columns = {**audited, "connection": moved.c.connection, "entity_key": moved.c.doc_key}
        rows = sa.select(*(v.label(k) for k, v in columns.items()))
        audit_rows = audit.insert().from_select(list(columns), rows).cte("audited")
        count = sa.select(sa.func.count()).select_from(moved).add_cte(audit_rows)
        return int(conn.execute(count).scalar_one())
    # SQLite: the INSERT takes the write lock before it reads, so no other writer moves them between
    columns = {**audited, "connection": documents.c.connection, "entity_key": documents.c.doc_key}
    rows = sa.select(*(v.label(k) for k, v in columns.items())).where(*mine).order_by(documents.c.id)
    conn.execute(audit.insert().from_select(list(columns), rows))
    res = conn.execute(documents.update().where(*mine).values(status=target, updated_at=now))
    return int(res.rowcount)


def read_document(conn: Connection, doc_id: int) -> StoredDocument:
    row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().one()
    return StoredDocument.of(row)


def read_with_status(conn: Connection, connection: str, statuses: Sequence[str]) -> list[StoredDocument]:
    q = sa.select(documents).where(documents.c.connection == connection, documents.c.status.in_(statuses))
    return [StoredDocument.of(row) for row in conn.execute(q.order_by(documents.c.id)).mappings()]


def apply_moves(conn: Connection, doc_id: int, moves: Sequence[Move], *, actor: str) -> bool:
    """Apply ``moves`` in order, each a compare-and-set with its audit row; all or nothing.

    Several moves share one transaction only when each leads into the next one's from-states
    (e.g. ``created`` then ``posted`` with releasing off): once the first has moved the document,
    inside this transaction nothing else can, so either every move applies or none does."""
    changes = [step(m.event) for m in moves]
    for n, (move, change) in enumerate(zip(moves, changes, strict=True)):
        if change.opens_failure:
            raise ValueError(f"event {move.event!r} opens a failure: use park()")
        if n and move.expect:
            raise ValueError("only the first move of a chain may carry expect")
        if n and changes[n - 1].target(moves[n - 1].to_status) not in change.sources:
            raise ValueError(f"event {move.event!r} cannot follow {moves[n - 1].event!r}")
    for n, (move, change) in enumerate(zip(moves, changes, strict=True)):
        before = _change(
            conn,
            doc_id,
            change,
            move.to_status,
            actor=actor,
            reason=move.reason,
            details=move.details,
            expect=move.expect,
            values=move.values,
        )
        if before is None:
            if n:  # cannot happen (checked above); raising rolls the whole chain back
                raise LedgerError(f"document {doc_id}: {move.event!r} did not follow {moves[0].event!r}")
            return False
    return True


def claim_in(
    conn: Connection, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta
) -> bool:
    """pending -> posting with the voucher and period; ``attempts`` counts up in the same statement."""
    wid = worker_id()
    move = Move(
        "claimed",
        reason="about to create the journal transaction in Visma",
        values={
            "voucher": voucher,
            "period": period,
            "claimed_by": wid,
            "claim_expires": utcnow() + lease,
            "attempts": documents.c.attempts + 1,
        },
    )
    return apply_moves(conn, doc_id, [move], actor=f"worker:{wid}")


def park_in(
    conn: Connection,
    doc_id: int,
    event: str,
    *,
    category: str,
    code: str,
    reason: str,
    actor: str,
    visma_answer: str | None = None,
    missing: list[dict[str, str]] | None = None,
    **values: Any,
) -> bool:
    """A parking ``event``: the document moves to ``parked`` and its failure is opened (the open
    one it had is superseded), in the caller's transaction; ``values``: columns the event records."""
    change = step(event)
    if not change.opens_failure:
        raise ValueError(f"event {event!r} does not park a document")
    row = _change(
        conn,
        doc_id,
        change,
        None,
        actor=actor,
        reason=reason,
        details={"category": category, "code": code, "visma_answer": visma_answer},
        expect=None,
        values=values,
    )
    if row is None:
        return False
    conn.execute(
        failures.update()
        .where(failures.c.document_id == doc_id, failures.c.status == "open")
        .values(status="superseded", resolved_at=utcnow(), resolved_by=actor)
    )
    add_failure(
        conn,
        connection=row["connection"],
        category=category,
        code=code,
        reason=reason,
        document_id=doc_id,
        doc_key=row["doc_key"],
        visma_answer=visma_answer,
        missing=missing,
        source=row["source"],
        raw=row["raw"],
        file_id=row["file_id"],
    )
    return True


def _change(
    conn: Connection,
    doc_id: int,
    change: Transition,
    to_status: str | None,
    *,
    actor: str,
    reason: str | None,
    details: Mapping[str, Any] | None,
    expect: Mapping[str, Any] | None,
    values: Mapping[str, Any],
) -> RowMapping | None:
    """The one write of a document's status: compare-and-set from the event's from-states, plus
    its audit row. Returns the row as it was before, or ``None`` when the document was elsewhere."""
    target = change.target(to_status)
    change.check_columns(values)
    columns = dict(values)
    if change.ends_claim:
        columns.update(dict.fromkeys(CLAIM_COLUMNS))
    expect = dict(expect or {})
    row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().one()
    if row["status"] not in change.sources or any(row[k] != v for k, v in expect.items()):
        return None
    guards = [documents.c[k].is_(None) if v is None else documents.c[k] == v for k, v in expect.items()]
    res = conn.execute(
        documents.update()
        .where(documents.c.id == doc_id, documents.c.status == row["status"], *guards)
        .values(status=target, updated_at=utcnow(), **columns)
    )
    if res.rowcount != 1:
        return None
    write_audit(
        conn,
        connection=row["connection"],
        entity="document",
        key=row["doc_key"],
        action=change.action,
        from_status=row["status"],
        to_status=target,
        reason=reason,
        actor=actor,
        details=details,
    )
    return row
