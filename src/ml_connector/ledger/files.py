"""Files downloaded from SFTP: seen once by hash, processed, or set aside by an operator."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ml_connector.domain.files import RemoteFile
from ml_connector.domain.stored import StoredFile
from ml_connector.errors import LedgerError
from ml_connector.ledger.audit import write_audit
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.documents import move_file_documents_in
from ml_connector.ledger.engine import LedgerBase, inserted_id
from ml_connector.ledger.failures import close_failures
from ml_connector.ledger.schema import failures, files


class FileRecords(LedgerBase):
    def file_by_hash(self, connection: str, sha256: str) -> StoredFile | None:
        with self.tx() as conn:
            q = sa.select(files).where(files.c.connection == connection, files.c.sha256 == sha256)
            row = conn.execute(q).mappings().first()
            return None if row is None else StoredFile.of(row)

    def known_file_paths(self, connection: str) -> dict[tuple[str, int, datetime | None], str]:
        """(path, size, mtime) -> status for every file seen: the cheap skip before a download."""
        with self.tx() as conn:
            q = sa.select(files.c.remote_path, files.c.size, files.c.mtime, files.c.status).where(
                files.c.connection == connection
            )
            return {(r.remote_path, r.size, r.mtime): r.status for r in conn.execute(q)}

    def not_taken_in(
        self, connection: str, listed: Sequence[RemoteFile], *, recheck: Collection[str] = ()
    ) -> dict[RemoteFile, str | None]:
        """The set comparison of an intake: of ``listed``, the files the ledger holds under no
        row of the same (path, size, mtime) (with None), and those whose row's status is in
        ``recheck`` (with that status). One query; the rest of the listing needs no more work.

        The mtime is compared in whole seconds since the epoch, as SFTP lists it: reading the
        rows' timestamps as datetimes cost more than the whole comparison (10,000 files)."""
        with self.tx() as conn:
            q = sa.select(
                files.c.remote_path, files.c.size, _epoch_seconds(conn, files.c.mtime), files.c.status
            ).where(files.c.connection == connection)
            known = {(path, size, seconds): status for path, size, seconds, status in conn.execute(q)}
        out: dict[RemoteFile, str | None] = {}
        for remote in listed:
            status = known.get((remote.path, remote.size, _seconds(remote.mtime)))
            if status is None or status in recheck:
                out[remote] = status
        return out

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
            return existing.id, False
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
                file_id = inserted_id(res)
                write_audit(
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
            return row.id, False

    def finish_file(
        self, file_id: int, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> None:
        with self.tx() as conn:
            finish_file_in(conn, file_id, status=status, count=count, issues=issues, actor=actor)

    def release_file(
        self, file_id: int, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> int:
        """A file read to its end: its documents still ``reading`` become ``pending`` (event
        ``file_read``) in bulk, and the file's outcome is recorded (``finish_file``), in one
        transaction. Returns how many documents were released."""
        with self.tx() as conn:
            connection = conn.execute(sa.select(files.c.connection).where(files.c.id == file_id)).scalar_one()
            reason = "its file was read to its end"
            released = move_file_documents_in(
                conn, "file_read", connection=str(connection), file_id=file_id, actor=actor, reason=reason
            )
            finish_file_in(conn, file_id, status=status, count=count, issues=issues, actor=actor)
            return released

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
            # what was read of it before it broke off is never posted (unless another file holds it)
            move_file_documents_in(
                conn,
                "file_set_aside",
                connection=row["connection"],
                file_id=file_id,
                actor=actor,
                reason=reason,
            )
            _audit_file(conn, row, action="set_aside", to_status="set_aside", actor=actor, reason=reason)
            open_ids = conn.execute(
                sa.select(failures.c.id).where(
                    failures.c.file_id == file_id,
                    failures.c.document_id.is_(None),
                    failures.c.status == "open",
                )
            ).scalars()
            close_failures(
                conn,
                [int(fid) for fid in open_ids],
                connection=row["connection"],
                action="set_aside",
                actor=actor,
                reason=reason,
            )
            return True

    def files_with_status(self, connection: str, statuses: Sequence[str]) -> list[StoredFile]:
        with self.tx() as conn:
            q = sa.select(files).where(files.c.connection == connection, files.c.status.in_(statuses))
            return [StoredFile.of(row) for row in conn.execute(q.order_by(files.c.id)).mappings()]


def finish_file_in(
    conn: Connection, file_id: int, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
) -> None:
    """The file's outcome (status, document count, issues) with its audit row, in the caller's
    transaction."""
    row = conn.execute(sa.select(files).where(files.c.id == file_id)).mappings().one()
    conn.execute(
        files.update()
        .where(files.c.id == file_id)
        .values(status=status, documents=count, issues=issues, processed_at=utcnow())
    )
    details = {"documents": count, "issues": len(issues)}
    _audit_file(conn, row, action="processed", to_status=status, actor=actor, details=details)


def _audit_file(
    conn: Connection,
    row: RowMapping,
    *,
    action: str,
    to_status: str,
    actor: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """The audit row of a change of the file ``row`` (as it was before the change)."""
    write_audit(
        conn,
        connection=row["connection"],
        entity="file",
        key=row["remote_path"],
        action=action,
        from_status=row["status"],
        to_status=to_status,
        actor=actor,
        reason=reason,
        details=details,
    )


def _seconds(mtime: datetime | None) -> int | None:
    return None if mtime is None else math.floor(mtime.timestamp())


def _epoch_seconds(conn: sa.Connection, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[int]:
    """Whole seconds since the epoch, in SQL (stored UTC: naive text on SQLite, timestamptz on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.BigInteger)
