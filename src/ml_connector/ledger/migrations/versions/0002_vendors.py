"""Vendor export: vendor_state (per-vendor content hash of the last confirmed upload and the bank
account last seen), vendor_uploads (every upload attempt) and vendor_bank_changes.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vendor_state",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("vendor_id", sa.String(60), primary_key=True),
        sa.Column("exported_hash", sa.String(64), nullable=True),
        sa.Column("exported_row", sa.JSON, nullable=True),
        sa.Column("exported_at", TS, nullable=True),
        sa.Column("upload_id", sa.Integer, nullable=True),
        sa.Column("bank_hash", sa.String(64), nullable=True),
        sa.Column("bank_masked", sa.JSON, nullable=True),
        sa.Column("bank_seen_at", TS, nullable=True),
    )
    op.create_table(
        "vendor_uploads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("remote_path", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("vendors", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("visma_mark", TS, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_vendor_uploads_status", "vendor_uploads", ["connection", "status"])
    op.create_table(
        "vendor_bank_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("vendor_id", sa.String(60), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("old", sa.JSON, nullable=True),
        sa.Column("new", sa.JSON, nullable=True),
    )
    op.create_index("ix_vendor_bank_changes_vendor", "vendor_bank_changes", ["connection", "vendor_id"])


def downgrade() -> None:
    op.drop_index("ix_vendor_bank_changes_vendor", "vendor_bank_changes")
    op.drop_table("vendor_bank_changes")
    op.drop_index("ix_vendor_uploads_status", "vendor_uploads")
    op.drop_table("vendor_uploads")
    op.drop_table("vendor_state")
