"""Ledger queries of the coding-list export (tables in ``masterdata_schema``). Every change is
audited in the same transaction (entity ``masterdata_file``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from ml_connector.ledger.masterdata_schema import masterdata_state, masterdata_uploads
from ml_connector.ledger.store import Ledger, utcnow

ENTITY = "masterdata_file"


class MasterdataStore:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def exported(self, connection: str, list_name: str) -> dict[str, RowMapping]:
        """value key -> what the last confirmed upload sent (hash and row)."""
        with self.ledger.tx() as conn:
            q = sa.select(masterdata_state).where(
                masterdata_state.c.connection == connection, masterdata_state.c.list_name == list_name
            )
            return {str(r["value_key"]): r for r in conn.execute(q).mappings()}

    def last_upload(self, connection: str, list_name: str, *, mode: str | None = None) -> RowMapping | None:
        """The newest confirmed upload of a list (of ``mode`` when given)."""
        with self.ledger.tx() as conn:
            q = sa.select(masterdata_uploads).where(
                masterdata_uploads.c.connection == connection,
                masterdata_uploads.c.list_name == list_name,
                masterdata_uploads.c.status == "uploaded",
            )
            if mode is not None:
                q = q.where(masterdata_uploads.c.mode == mode)
            return conn.execute(q.order_by(masterdata_uploads.c.id.desc()).limit(1)).mappings().first()

    def file_names(self, connection: str) -> set[str]:
        with self.ledger.tx() as conn:
            q = sa.select(masterdata_uploads.c.file_name).where(masterdata_uploads.c.connection == connection)
            return {str(n) for (n,) in conn.execute(q)}

    def uploads(self, connection: str) -> list[RowMapping]:
        with self.ledger.tx() as conn:
            q = sa.select(masterdata_uploads).where(masterdata_uploads.c.connection == connection)
            return list(conn.execute(q.order_by(masterdata_uploads.c.id)).mappings())

    def begin_upload(
        self,
        connection: str,
        list_name: str,
        *,
        mode: str,
        file_name: str,
        rows: int,
        size: int,
        sha256: str,
        actor: str,
        at: datetime | None = None,
    ) -> int:
        """Record the intent before anything is written to the SFTP server."""
        with self.ledger.tx() as conn:
            res = conn.execute(
                masterdata_uploads.insert().values(
                    connection=connection,
                    list_name=list_name,
                    mode=mode,
                    file_name=file_name,
                    status="pending",
                    row_count=rows,
                    size=size,
                    sha256=sha256,
                    started_at=at or utcnow(),
                )
            )
            key = res.inserted_primary_key
            upload_id = int(key[0]) if key else 0
            self.ledger.audit(
                conn,
                connection=connection,
                entity=ENTITY,
                key=file_name,
                action="upload_started",
                to_status="pending",
                actor=actor,
                details={"list": list_name, "mode": mode, "rows": rows, "sha256": sha256},
            )
            return upload_id

    def confirm_upload(
        self,
        upload_id: int,
        *,
        remote_path: str,
        rows: Mapping[str, tuple[str, Mapping[str, str]]],
        actor: str,
    ) -> None:
        """The file is visible under its final name: move each value's hash on, in one transaction.
        ``rows``: value key -> (content hash, row as sent)."""
        now = utcnow()
        with self.ledger.tx() as conn:
            up = (
                conn.execute(sa.select(masterdata_uploads).where(masterdata_uploads.c.id == upload_id))
                .mappings()
                .one()
            )
            connection, list_name = str(up["connection"]), str(up["list_name"])
            conn.execute(
                masterdata_uploads.update()
                .where(masterdata_uploads.c.id == upload_id)
                .values(status="uploaded", remote_path=remote_path, finished_at=now)
            )
            for value_key, (content_hash, row) in rows.items():
                where = (
                    (masterdata_state.c.connection == connection)
                    & (masterdata_state.c.list_name == list_name)
                    & (masterdata_state.c.value_key == value_key)
                )
                values = {
                    "exported_hash": content_hash,
                    "exported_row": dict(row),
                    "exported_at": now,
                    "upload_id": upload_id,
                }
                if conn.execute(sa.select(masterdata_state.c.value_key).where(where)).first() is None:
                    conn.execute(
                        masterdata_state.insert().values(
                            connection=connection, list_name=list_name, value_key=value_key, **values
                        )
                    )
                else:
                    conn.execute(masterdata_state.update().where(where).values(**values))
            self.ledger.audit(
                conn,
                connection=connection,
                entity=ENTITY,
                key=str(up["file_name"]),
                action="uploaded",
                from_status="pending",
                to_status="uploaded",
                actor=actor,
                details={
                    "remote_path": remote_path,
                    "list": list_name,
                    "rows": len(rows),
                    "mode": up["mode"],
                },
            )

    def fail_upload(self, upload_id: int, *, error: str, actor: str) -> None:
        with self.ledger.tx() as conn:
            up = (
                conn.execute(sa.select(masterdata_uploads).where(masterdata_uploads.c.id == upload_id))
                .mappings()
                .one()
            )
            conn.execute(
                masterdata_uploads.update()
                .where(masterdata_uploads.c.id == upload_id)
                .values(status="failed", error=error, finished_at=utcnow())
            )
            self.ledger.audit(
                conn,
                connection=str(up["connection"]),
                entity=ENTITY,
                key=str(up["file_name"]),
                action="upload_failed",
                from_status="pending",
                to_status="failed",
                reason=f"{error}; the values stay unconfirmed and go out again in the next file",
                actor=actor,
            )
