"""The ledger: what ml-connector has seen, claimed, sent and confirmed, on SQLite or PostgreSQL.

Exactly-once rests on three rules kept here:
1. a document moves between states only by compare-and-set (``UPDATE ... WHERE status = old``),
   so two processes can never both claim it;
2. every transition writes its audit row in the same transaction;
3. the intent to post (status ``posting`` with the voucher and its reference) is committed
   *before* the create is sent, so a crash leaves a trace that recovery settles by looking
   the reference up in Visma.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ml_connector.errors import LedgerError
from ml_connector.ledger import pgtext
from ml_connector.ledger.schema import audit, documents, failures, files, master_data, runs, sync_state
from ml_connector.private_files import private_file

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x6D6C6331  # pg_advisory_xact_lock key held while migrating ("mlc1")


class DocStatus:
    PENDING = "pending"  # known, not yet sent (new, replayed, or settled as "not in Visma")
    POSTING = "posting"  # claimed; the create may be on the wire
    UNKNOWN = "unknown"  # the create's outcome is unknown: look the reference up before anything else
    CREATED = "created"  # the batch exists in Visma; release still to do
    POSTED = "posted"  # done
    PARKED = "parked"  # a failure a person or a master-data change must resolve
    SKIPPED = "skipped"  # not approved in Stampli; never posted

    OPEN = (PENDING, POSTING, UNKNOWN, CREATED)


def utcnow() -> datetime:
    return datetime.now(UTC)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_dead(claimed_by: str | None, claim_expires: datetime | None, now: datetime) -> bool:
    """A claim can be taken over when its lease ran out, or its process on this host is gone."""
    if claimed_by is None or claim_expires is None or claim_expires <= now:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def _pk(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise LedgerError("insert returned no primary key")
    return int(key[0])


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = _engine(url)
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot open the ledger database: {exc.__class__.__name__}") from exc

    @classmethod
    def open(cls, url: str) -> Ledger:
        ledger = cls(url)
        ledger.upgrade()
        return ledger

    def upgrade(self) -> None:
        """Migrate to head; processes starting together wait for each other (else both would
        find an empty database and both try to create the tables)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with _sqlite_file_lock(self.engine), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger migration failed: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger error: {exc.__class__.__name__}: {exc}") from exc

    # ---- audit ---------------------------------------------------------------------------------

    @staticmethod
    def audit(
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
            audit.insert().values(
                at=utcnow(),
                connection=connection,
                entity=entity,
                entity_key=key,
                action=action,
                from_status=from_status,
                to_status=to_status,
                reason=reason,
                actor=actor,
                details=dict(details) if details else None,
            )
        )

    def audit_trail(self, entity: str, key: str) -> list[RowMapping]:
        with self.tx() as conn:
            q = (
                sa.select(audit)
                .where(audit.c.entity == entity, audit.c.entity_key == key)
                .order_by(audit.c.id)
            )
            return list(conn.execute(q).mappings())

    # ---- files ---------------------------------------------------------------------------------

    def keys_with_action(self, connection: str, action: str) -> set[str]:
        """The document keys of a connection with an audit row of ``action`` (e.g. found_in_visma)."""
        with self.tx() as conn:
            q = sa.select(audit.c.entity_key).where(
                audit.c.connection == connection, audit.c.entity == "document", audit.c.action == action
            )
            return {str(k) for k in conn.execute(q).scalars() if k is not None}

    def file_by_hash(self, connection: str, sha256: str) -> RowMapping | None:
        with self.tx() as conn:
            q = sa.select(files).where(files.c.connection == connection, files.c.sha256 == sha256)
            return conn.execute(q).mappings().first()

    def known_file_paths(self, connection: str) -> dict[tuple[str, int, datetime | None], str]:
        """(path, size, mtime) -> status for every file seen: the cheap skip before a download."""
        with self.tx() as conn:
            q = sa.select(files.c.remote_path, files.c.size, files.c.mtime, files.c.status).where(
                files.c.connection == connection
            )
            return {(r.remote_path, r.size, r.mtime): r.status for r in conn.execute(q)}

    def record_file(
        self,
        *,
        connection: str,
        kind: str,
        remote_path: str,
        size: int,
        mtime: datetime | None,
        sha256: str,
        archive_path: str | None,
        actor: str,
    ) -> tuple[int, bool]:
        """Insert a downloaded file; returns (id, is_new). A known hash is not inserted again."""
        existing = self.file_by_hash(connection, sha256)
        if existing is not None:
            return int(existing["id"]), False
        try:
            with self.tx() as conn:
                res = conn.execute(
                    files.insert().values(
                        connection=connection,
                        kind=kind,
                        remote_path=remote_path,
                        size=size,
                        mtime=mtime,
                        sha256=sha256,
                        status="downloaded",
                        archive_path=archive_path,
                        first_seen=utcnow(),
                    )
                )
                file_id = _pk(res)
                self.audit(
                    conn,
                    connection=connection,
                    entity="file",
                    key=remote_path,
                    action="downloaded",
                    to_status="downloaded",
                    actor=actor,
                    details={"sha256": sha256, "size": size},
                )
                return file_id, True
        except IntegrityError:
            row = self.file_by_hash(connection, sha256)
            if row is None:
                raise LedgerError("file row vanished after a unique conflict") from None
            return int(row["id"]), False

    def finish_file(
        self, file_id: int, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> None:
        with self.tx() as conn:
            row = conn.execute(sa.select(files).where(files.c.id == file_id)).mappings().one()
            conn.execute(
                files.update()
                .where(files.c.id == file_id)
                .values(status=status, documents=count, issues=issues, processed_at=utcnow())
            )
            self.audit(
                conn,
                connection=row["connection"],
                entity="file",
                key=row["remote_path"],
                action="processed",
                from_status=row["status"],
                to_status=status,
                actor=actor,
                details={"documents": count, "issues": len(issues)},
            )

    def set_file_aside(self, file_id: int, *, from_statuses: Sequence[str], actor: str, reason: str) -> bool:
        """An operator's decision that a rejected file is not to be read again: status ``set_aside``
        and its file-level failures closed, in one transaction. False when the file is not in
        ``from_statuses`` (someone else replayed or set it aside first)."""
        with self.tx() as conn:
            row = conn.execute(sa.select(files).where(files.c.id == file_id)).mappings().one()
            done = conn.execute(
                files.update()
                .where(files.c.id == file_id, files.c.status.in_(from_statuses))
                .values(status="set_aside")
            )
            if done.rowcount != 1:
                return False
            self.audit(
                conn,
                connection=row["connection"],
                entity="file",
                key=row["remote_path"],
                action="set_aside",
                from_status=row["status"],
                to_status="set_aside",
                actor=actor,
                reason=reason,
            )
            open_ids = conn.execute(
                sa.select(failures.c.id).where(
                    failures.c.file_id == file_id,
                    failures.c.document_id.is_(None),
                    failures.c.status == "open",
                )
            ).scalars()
            for fid in list(open_ids):
                conn.execute(
                    failures.update()
                    .where(failures.c.id == fid)
                    .values(status="resolved", resolved_at=utcnow(), resolved_by=actor)
                )
                self.audit(
                    conn,
                    connection=row["connection"],
                    entity="failure",
                    key=str(fid),
                    action="set_aside",
                    from_status="open",
                    to_status="resolved",
                    reason=reason,
                    actor=actor,
                )
            return True

    def files_with_status(self, connection: str, statuses: Sequence[str]) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(files).where(files.c.connection == connection, files.c.status.in_(statuses))
            return list(conn.execute(q.order_by(files.c.id)).mappings())

    # ---- documents -----------------------------------------------------------------------------

    def document(self, connection: str, key: str) -> RowMapping | None:
        with self.tx() as conn:
            q = sa.select(documents).where(documents.c.connection == connection, documents.c.doc_key == key)
            return conn.execute(q).mappings().first()

    def document_by_id(self, doc_id: int) -> RowMapping:
        with self.tx() as conn:
            return conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().one()

    def insert_document(
        self, values: Mapping[str, Any], *, status: str, actor: str, reason: str
    ) -> int | None:
        """Insert a new document; ``None`` when another process inserted the same key first."""
        now = utcnow()
        try:
            with self.tx() as conn:
                res = conn.execute(
                    documents.insert().values(**values, status=status, created_at=now, updated_at=now)
                )
                doc_id = _pk(res)
                self.audit(
                    conn,
                    connection=values["connection"],
                    entity="document",
                    key=values["doc_key"],
                    action="received",
                    to_status=status,
                    reason=reason,
                    actor=actor,
                    details={"content_hash": values["content_hash"], "file_id": values.get("file_id")},
                )
                return doc_id
        except IntegrityError:
            return None

    def transition(
        self,
        doc_id: int,
        from_statuses: Sequence[str],
        to_status: str,
        *,
        actor: str,
        action: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        """Compare-and-set a document's status (plus columns), with its audit row. False if lost.

        ``expect`` adds columns that must still hold the values the caller decided on (e.g. the
        ``attempts`` it read): a document that went round its states meanwhile is not touched."""
        expect = dict(expect or {})
        with self.tx() as conn:
            row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().one()
            if row["status"] not in from_statuses or any(row[k] != v for k, v in expect.items()):
                return False
            guards = [
                documents.c[k].is_(None) if v is None else documents.c[k] == v for k, v in expect.items()
            ]
            res = conn.execute(
                documents.update()
                .where(documents.c.id == doc_id, documents.c.status == row["status"], *guards)
                .values(status=to_status, updated_at=utcnow(), **values)
            )
            if res.rowcount != 1:
                return False
            self.audit(
                conn,
                connection=row["connection"],
                entity="document",
                key=row["doc_key"],
                action=action,
                from_status=row["status"],
                to_status=to_status,
                reason=reason,
                actor=actor,
                details=details,
            )
            return True

    def claim(self, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta) -> bool:
        """pending -> posting: record the intent (voucher, period) before anything is sent."""
        wid = worker_id()
        row = self.document_by_id(doc_id)
        return self.transition(
            doc_id,
            [DocStatus.PENDING],
            DocStatus.POSTING,
            actor=f"worker:{wid}",
            action="claimed",
            reason="about to create the journal transaction in Visma",
            voucher=voucher,
            period=period,
            claimed_by=wid,
            claim_expires=utcnow() + lease,
            attempts=int(row["attempts"]) + 1,
        )

    def documents_with_status(self, connection: str, statuses: Sequence[str]) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(documents).where(
                documents.c.connection == connection, documents.c.status.in_(statuses)
            )
            return list(conn.execute(q.order_by(documents.c.id)).mappings())

    def all_documents(self, connection: str | None = None) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(documents)
            if connection is not None:
                q = q.where(documents.c.connection == connection)
            return list(conn.execute(q.order_by(documents.c.id)).mappings())

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
    ) -> bool:
        """A corrected re-export of a document that never reached Visma replaces the stored one."""
        return self.transition(
            doc_id,
            [DocStatus.PARKED, DocStatus.PENDING, DocStatus.SKIPPED],
            DocStatus.PENDING,
            actor=actor,
            action="superseded",
            reason="a re-export with changed content replaced the stored document before it was posted",
            details={"content_hash": content_hash, "file_id": file_id},
            source=source,
            raw=raw,
            content_hash=content_hash,
            file_id=file_id,
        )

    # ---- failures ------------------------------------------------------------------------------

    def add_failure(
        self,
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
        return _pk(res)

    def park(
        self,
        doc_id: int,
        from_statuses: Sequence[str],
        *,
        category: str,
        code: str,
        reason: str,
        actor: str,
        visma_answer: str | None = None,
        missing: list[dict[str, str]] | None = None,
        **values: Any,
    ) -> bool:
        """Move a document to ``parked`` and open its failure, in one transaction."""
        with self.tx() as conn:
            row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().one()
            if row["status"] not in from_statuses:
                return False
            res = conn.execute(
                documents.update()
                .where(documents.c.id == doc_id, documents.c.status == row["status"])
                .values(
                    status=DocStatus.PARKED,
                    updated_at=utcnow(),
                    claimed_by=None,
                    claim_expires=None,
                    **values,
                )
            )
            if res.rowcount != 1:
                return False
            conn.execute(
                failures.update()
                .where(failures.c.document_id == doc_id, failures.c.status == "open")
                .values(status="superseded", resolved_at=utcnow(), resolved_by=actor)
            )
            self.add_failure(
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
            self.audit(
                conn,
                connection=row["connection"],
                entity="document",
                key=row["doc_key"],
                action="parked",
                from_status=row["status"],
                to_status=DocStatus.PARKED,
                reason=reason,
                actor=actor,
                details={"category": category, "code": code, "visma_answer": visma_answer},
            )
            return True

    def record_failure(self, *, connection: str, actor: str, **fields: Any) -> int:
        """A failure without a document (a rejected file, a record that could not be read)."""
        with self.tx() as conn:
            fid = self.add_failure(conn, connection=connection, **fields)
            self.audit(
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

    def open_failures(self, connection: str | None = None) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(failures).where(failures.c.status == "open")
            if connection is not None:
                q = q.where(failures.c.connection == connection)
            return list(conn.execute(q.order_by(failures.c.id)).mappings())

    def failure(self, failure_id: int) -> RowMapping | None:
        with self.tx() as conn:
            return conn.execute(sa.select(failures).where(failures.c.id == failure_id)).mappings().first()

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
            rows = list(conn.execute(q))
            for (fid,) in rows:
                conn.execute(
                    failures.update()
                    .where(failures.c.id == fid)
                    .values(status="resolved", resolved_at=utcnow(), resolved_by=actor)
                )
                self.audit(
                    conn,
                    connection=None,
                    entity="failure",
                    key=str(fid),
                    action="resolved",
                    from_status="open",
                    to_status="resolved",
                    reason=reason,
                    actor=actor,
                )

    # ---- master data cache ---------------------------------------------------------------------

    def upsert_master(
        self, connection: str, kind: str, items: Mapping[str, tuple[bool, dict[str, Any]]]
    ) -> None:
        """Insert or update in one statement per row (ON CONFLICT), so that two processes
        refreshing the same connection at once cannot both insert a key."""
        if not items:
            return
        now = utcnow()
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
        ]
        with self.tx() as conn:
            stmt = _upsert(
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
            stmt = _upsert(conn, sync_state, ["connection", "kind"], ["last_modified", "synced_at"])
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

    # ---- runs ----------------------------------------------------------------------------------

    def start_run(self, connection: str) -> int:
        with self.tx() as conn:
            res = conn.execute(
                runs.insert().values(
                    connection=connection, worker=worker_id(), started_at=utcnow(), status="running"
                )
            )
            return _pk(res)

    def finish_run(
        self, run_id: int, *, status: str, stats: Mapping[str, Any], error: str | None = None
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=utcnow(), status=status, stats=dict(stats), error=error)
            )

    def last_runs(self, connection: str | None = None, limit: int = 10) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(runs)
            if connection is not None:
                q = q.where(runs.c.connection == connection)
            return list(conn.execute(q.order_by(runs.c.id.desc()).limit(limit)).mappings())


def _upsert(conn: Connection, table: sa.Table, keys: list[str], update: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET update = excluded.update`` (SQLite, PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(index_elements=keys, set_={c: pg.excluded[c] for c in update})
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table)
    return lite.on_conflict_do_update(index_elements=keys, set_={c: lite.excluded[c] for c in update})


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive flock for the migration, on the directory that holds the SQLite file.

    Never on the database file itself: closing any descriptor of that file drops every POSIX
    lock SQLite holds on it in this process (sqlite.org/howtocorrupt.html §2.2), which let other
    processes reset the WAL under a live connection. No-op for other databases."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    import fcntl

    fd = os.open(Path(path).resolve().parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        db = engine.url.database
        if db and db != ":memory:" and not db.startswith("file:"):
            with contextlib.suppress(FileNotFoundError):  # no folder: SQLite's own error says so
                private_file(Path(db))  # SQLite gives its -wal and -shm files the same mode

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = sa.create_engine(url, pool_pre_ping=True)
    sa.event.listen(engine, "connect", lambda dbapi_conn, _record: pgtext.register(dbapi_conn))
    return engine
