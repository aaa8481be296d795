"""The ledger's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Every state change of a document is a row in ``audit`` (append-only) written in the same
transaction as the change itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (which stores naive text) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TS = UTCDateTime()

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # invoices | payments
    sa.Column("remote_path", sa.String(1000), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime", TS, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # downloaded | processed | partial | rejected
    sa.Column("archive_path", sa.String(1000), nullable=True),  # our own copy, for replay
    sa.Column("documents", sa.Integer, nullable=False, server_default="0"),
    sa.Column("issues", sa.JSON, nullable=True),
    sa.Column("first_seen", TS, nullable=False),
    sa.Column("processed_at", TS, nullable=True),
    sa.UniqueConstraint("connection", "sha256", name="uq_files_connection_sha256"),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("doc_key", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # invoice | payment | payment_void
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(60), nullable=False),  # written on every Visma line: findable again
    sa.Column("vendor_id", sa.String(60), nullable=True),
    sa.Column("vendor_name", sa.String(300), nullable=True),
    sa.Column("number", sa.String(100), nullable=True),  # invoice or payment number, for search
    sa.Column("document_date", sa.Date, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("amount", sa.String(40), nullable=True),  # exact decimal text
    sa.Column("period", sa.String(6), nullable=True),  # YYYYMM the voucher was (or would be) posted in
    sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
    sa.Column("source", sa.JSON, nullable=False),  # the canonical document: replays post from this
    sa.Column("raw", sa.Text, nullable=True),  # the raw rows or XML fragment it was read from
    sa.Column("voucher", sa.JSON, nullable=True),  # the exact payload sent to Visma
    sa.Column("batch_number", sa.String(30), nullable=True),
    sa.Column("etag", sa.String(200), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claim_expires", TS, nullable=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    # The invoice image (migration 0008): the file in images/ beside the export, its sha256 and size,
    # our archived copy; image_note says why there is none; image_attached_at: attached in Visma.
    sa.Column("image_name", sa.String(300), nullable=True),
    sa.Column("image_sha256", sa.String(64), nullable=True),
    sa.Column("image_size", sa.BigInteger, nullable=True),
    sa.Column("image_path", sa.String(1000), nullable=True),
    sa.Column("image_note", sa.Text, nullable=True),
    sa.Column("image_attached_at", TS, nullable=True),
    sa.UniqueConstraint("connection", "doc_key", name="uq_documents_connection_key"),
)
sa.Index("ix_documents_status", documents.c.connection, documents.c.status)
sa.Index("ix_documents_period", documents.c.connection, documents.c.period)

failures = sa.Table(
    "failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=True),
    sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
    sa.Column("doc_key", sa.String(300), nullable=True),
    sa.Column("category", sa.String(30), nullable=False),  # who can fix it
    sa.Column("code", sa.String(60), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),  # what a finance person can act on
    sa.Column("visma_answer", sa.Text, nullable=True),
    sa.Column("missing", sa.JSON, nullable=True),  # [{"kind": "segment_value", "key": "1:0450"}, ...]
    sa.Column("source", sa.JSON, nullable=True),
    sa.Column("raw", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # open | resolved
    sa.Column("created_at", TS, nullable=False),
    sa.Column("resolved_at", TS, nullable=True),
    sa.Column("resolved_by", sa.String(100), nullable=True),
)
sa.Index("ix_failures_open", failures.c.connection, failures.c.status)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("connection", sa.String(100), nullable=True),
    sa.Column("entity", sa.String(20), nullable=False),  # document | file | failure | master_data | run
    sa.Column("entity_key", sa.String(300), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("details", sa.JSON, nullable=True),
)
sa.Index("ix_audit_entity", audit.c.entity, audit.c.entity_key)

master_data = sa.Table(
    "master_data",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),  # account | segment_value | supplier | period
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("refreshed_at", TS, nullable=False),
)

sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("last_modified", TS, nullable=True),
    sa.Column("synced_at", TS, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # running | ok | failed
    sa.Column("stats", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

# Whose history this ledger holds (migration 0006): per connection, the Stampli company and the
# Visma tenant and company it posted for, recorded on first use (ml_connector.ledger.identity).
connection_identity = sa.Table(
    "connection_identity",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("stampli_company_id", sa.String(100), nullable=False),
    sa.Column("visma_tenant_id", sa.String(200), nullable=False),
    sa.Column("visma_company_id", sa.String(100), nullable=False),
    sa.Column("recorded_at", TS, nullable=False),
    sa.Column("recorded_by", sa.String(100), nullable=False),
)
