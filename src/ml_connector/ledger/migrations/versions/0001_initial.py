"""Initial ledger schema: files, documents, failures, audit, master data cache, sync state, runs.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("remote_path", sa.String(1000), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime", TS, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("archive_path", sa.String(1000), nullable=True),
        sa.Column("documents", sa.Integer, nullable=False, server_default="0"),
        sa.Column("issues", sa.JSON, nullable=True),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.UniqueConstraint("connection", "sha256", name="uq_files_connection_sha256"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("doc_key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(60), nullable=False),
        sa.Column("vendor_id", sa.String(60), nullable=True),
        sa.Column("vendor_name", sa.String(300), nullable=True),
        sa.Column("number", sa.String(100), nullable=True),
        sa.Column("document_date", sa.Date, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("amount", sa.String(40), nullable=True),
        sa.Column("period", sa.String(6), nullable=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("raw", sa.Text, nullable=True),
        sa.Column("voucher", sa.JSON, nullable=True),
        sa.Column("batch_number", sa.String(30), nullable=True),
        sa.Column("etag", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claim_expires", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("connection", "doc_key", name="uq_documents_connection_key"),
    )
    op.create_index("ix_documents_status", "documents", ["connection", "status"])
    op.create_index("ix_documents_period", "documents", ["connection", "period"])
    op.create_table(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=True),
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), nullable=True),
        sa.Column("doc_key", sa.String(300), nullable=True),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("visma_answer", sa.Text, nullable=True),
        sa.Column("missing", sa.JSON, nullable=True),
        sa.Column("source", sa.JSON, nullable=True),
        sa.Column("raw", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_failures_open", "failures", ["connection", "status"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("connection", sa.String(100), nullable=True),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("entity_key", sa.String(300), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("details", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_entity", "audit", ["entity", "entity_key"])
    op.create_table(
        "master_data",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("refreshed_at", TS, nullable=False),
    )
    op.create_table(
        "sync_state",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("last_modified", TS, nullable=True),
        sa.Column("synced_at", TS, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stats", sa.JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for table in ("runs", "sync_state", "master_data", "audit", "failures", "documents", "files"):
        op.drop_table(table)
