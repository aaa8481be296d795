"""Ledger queries of the vendor export (tables in ``vendor_schema``). Every change is audited in
the same transaction (entity ``vendor`` or ``vendor_file``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ml_connector.domain.stored import BANK_CHANGED, StoredBankChange
from ml_connector.ledger.audit import write_audit
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase
from ml_connector.ledger.schema import failures
from ml_connector.ledger.vendor_schema import vendor_bank_changes, vendor_state, vendor_uploads

__all__ = ["BANK_CHANGED", "BankChange", "ExportedRow", "VendorStore"]


@dataclass(frozen=True)
class ExportedRow:
    vendor_id: str
    content_hash: str
    row: Mapping[str, str]


@dataclass(frozen=True)
class BankChange:
    vendor_id: str
    changed_at: datetime
    old: Mapping[str, str] | None
    new: Mapping[str, str] | None
    bank_hash: str


class VendorStore:
    """The vendor export's records (``Ledger.vendors``); the pipeline reads the bank changes
    (``pipeline/vendor_drift.py``, through ``pipeline/ports.py::VendorDriftPort``)."""

    def __init__(self, ledger: LedgerBase) -> None:
        self.ledger = ledger

    # ---- per-vendor state ------------------------------------------------------------------------

    def states(self, connection: str) -> dict[str, RowMapping]:
        with self.ledger.tx() as conn:
            q = sa.select(vendor_state).where(vendor_state.c.connection == connection)
            return {str(r["vendor_id"]): r for r in conn.execute(q).mappings()}

    @staticmethod
    def _upsert(conn: Connection, connection: str, vendor_id: str, **values: Any) -> None:
        key = (vendor_state.c.connection == connection) & (vendor_state.c.vendor_id == vendor_id)
        if conn.execute(sa.select(vendor_state.c.vendor_id).where(key)).first() is None:
            conn.execute(vendor_state.insert().values(connection=connection, vendor_id=vendor_id, **values))
        else:
            conn.execute(vendor_state.update().where(key).values(**values))

    def set_bank_baselines(
        self, connection: str, baselines: Mapping[str, tuple[str, Mapping[str, str]]]
    ) -> None:
        """vendor id -> (bank hash, masked values) for vendors seen for the first time: not a change."""
        if not baselines:
            return
        now = utcnow()
        with self.ledger.tx() as conn:
            for vendor_id, (bank_hash, masked) in baselines.items():
                self._upsert(
                    conn,
                    connection,
                    vendor_id,
                    bank_hash=bank_hash,
                    bank_masked=dict(masked),
                    bank_seen_at=now,
                )

    def record_bank_change(self, connection: str, change: BankChange, *, actor: str) -> None:
        now = utcnow()
        with self.ledger.tx() as conn:
            conn.execute(
                vendor_bank_changes.insert().values(
                    connection=connection,
                    vendor_id=change.vendor_id,
                    changed_at=change.changed_at,
                    detected_at=now,
                    old=dict(change.old) if change.old is not None else None,
                    new=dict(change.new) if change.new is not None else None,
                )
            )
            self._upsert(
                conn,
                connection,
                change.vendor_id,
                bank_hash=change.bank_hash,
                bank_masked=dict(change.new or {}),
                bank_seen_at=now,
            )
            write_audit(
                conn,
                connection=connection,
                entity="vendor",
                key=change.vendor_id,
                action="bank_changed",
                reason="the supplier's bank account (IBAN or account number) changed in Visma; unposted "
                "payments approved before the change wait for a person to confirm them",
                actor=actor,
                details={
                    "changed_at": change.changed_at.isoformat(),
                    "old": dict(change.old or {}),
                    "new": dict(change.new or {}),
                },
            )

    def bank_changes_since(self, connection: str, vendor_id: str, after: datetime) -> list[StoredBankChange]:
        """Bank changes of a vendor that happened after ``after`` (oldest first)."""
        with self.ledger.tx() as conn:
            q = (
                sa.select(vendor_bank_changes)
                .where(
                    vendor_bank_changes.c.connection == connection,
                    vendor_bank_changes.c.vendor_id == vendor_id,
                    vendor_bank_changes.c.changed_at > after,
                )
                .order_by(vendor_bank_changes.c.id)
            )
            return [StoredBankChange.of(row) for row in conn.execute(q).mappings()]

    def confirmed_after(self, document_id: int, after: datetime) -> bool:
        """A person resolved (replayed) a bank-change failure of this document after ``after``."""
        with self.ledger.tx() as conn:
            q = sa.select(failures.c.id).where(
                failures.c.document_id == document_id,
                failures.c.status == "resolved",
                failures.c.code.contains(BANK_CHANGED),
                failures.c.resolved_at >= after,
            )
            return conn.execute(q).first() is not None

    # ---- uploads ---------------------------------------------------------------------------------

    def last_upload(self, connection: str, *, mode: str | None = None) -> RowMapping | None:
        """The newest confirmed upload (of ``mode`` when given)."""
        with self.ledger.tx() as conn:
            q = sa.select(vendor_uploads).where(
                vendor_uploads.c.connection == connection, vendor_uploads.c.status == "uploaded"
            )
            if mode is not None:
                q = q.where(vendor_uploads.c.mode == mode)
            return conn.execute(q.order_by(vendor_uploads.c.id.desc()).limit(1)).mappings().first()

    def file_names(self, connection: str) -> set[str]:
        with self.ledger.tx() as conn:
            q = sa.select(vendor_uploads.c.file_name).where(vendor_uploads.c.connection == connection)
            return {str(n) for (n,) in conn.execute(q)}

    def uploads(self, connection: str) -> list[RowMapping]:
        with self.ledger.tx() as conn:
            q = sa.select(vendor_uploads).where(vendor_uploads.c.connection == connection)
            return list(conn.execute(q.order_by(vendor_uploads.c.id)).mappings())

    def begin_upload(
        self,
        connection: str,
        *,
        mode: str,
        file_name: str,
        vendors: int,
        size: int,
        sha256: str,
        visma_mark: datetime | None,
        actor: str,
    ) -> int:
        """Record the intent before anything is written to the SFTP server."""
        with self.ledger.tx() as conn:
            res = conn.execute(
                vendor_uploads.insert().values(
                    connection=connection,
                    mode=mode,
                    file_name=file_name,
                    status="pending",
                    vendors=vendors,
                    size=size,
                    sha256=sha256,
                    visma_mark=visma_mark,
                    started_at=utcnow(),
                )
            )
            key = res.inserted_primary_key
            upload_id = int(key[0]) if key else 0
            write_audit(
                conn,
                connection=connection,
                entity="vendor_file",
                key=file_name,
                action="upload_started",
                to_status="pending",
                actor=actor,
                details={"mode": mode, "vendors": vendors, "sha256": sha256},
            )
            return upload_id

    def confirm_upload(
        self, upload_id: int, *, remote_path: str, rows: Sequence[ExportedRow], actor: str
    ) -> None:
        """The file is visible under its final name: move every vendor's hash on, in one transaction."""
        now = utcnow()
        with self.ledger.tx() as conn:
            up = _finish_upload(conn, upload_id, status="uploaded", remote_path=remote_path, finished_at=now)
            for r in rows:
                self._upsert(
                    conn,
                    str(up["connection"]),
                    r.vendor_id,
                    exported_hash=r.content_hash,
                    exported_row=dict(r.row),
                    exported_at=now,
                    upload_id=upload_id,
                )
            write_audit(
                conn,
                connection=str(up["connection"]),
                entity="vendor_file",
                key=str(up["file_name"]),
                action="uploaded",
                from_status="pending",
                to_status="uploaded",
                actor=actor,
                details={"remote_path": remote_path, "vendors": len(rows), "mode": up["mode"]},
            )

    def fail_upload(self, upload_id: int, *, error: str, actor: str) -> None:
        with self.ledger.tx() as conn:
            up = _finish_upload(conn, upload_id, status="failed", error=error, finished_at=utcnow())
            write_audit(
                conn,
                connection=str(up["connection"]),
                entity="vendor_file",
                key=str(up["file_name"]),
                action="upload_failed",
                from_status="pending",
                to_status="failed",
                reason=f"{error}; the vendors stay unconfirmed and go out again in the next file",
                actor=actor,
            )


def _finish_upload(conn: Connection, upload_id: int, **values: Any) -> RowMapping:
    """Close an upload record with its outcome; returns the record as it was opened."""
    up = conn.execute(sa.select(vendor_uploads).where(vendor_uploads.c.id == upload_id)).mappings().one()
    conn.execute(vendor_uploads.update().where(vendor_uploads.c.id == upload_id).values(**values))
    return up
