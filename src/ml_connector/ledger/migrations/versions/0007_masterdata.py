"""Coding-list export: masterdata_state (per list and value, the content hash and row of the last
confirmed upload) and masterdata_uploads (every upload attempt).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "masterdata_state",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("list_name", sa.String(30), primary_key=True),
        sa.Column("value_key", sa.String(100), primary_key=True),
        sa.Column("exported_hash", sa.String(64), nullable=False),
        sa.Column("exported_row", sa.JSON, nullable=False),
        sa.Column("exported_at", TS, nullable=False),
        sa.Column("upload_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "masterdata_uploads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("list_name", sa.String(30), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("file_name", sa.String(300), nullable=False),
        sa.Column("remote_path", sa.String(1000), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_masterdata_uploads_list", "masterdata_uploads", ["connection", "list_name", "status"])


def downgrade() -> None:
    op.drop_index("ix_masterdata_uploads_list", "masterdata_uploads")
    op.drop_table("masterdata_uploads")
    op.drop_table("masterdata_state")
