"""The coding-list export's ledger tables (migration 0007): what Stampli was last sent per list and
value, and every upload attempt. Same rules as ``vendor_schema``: ``exported_hash`` moves only in
the transaction that marks an upload ``uploaded``."""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector.ledger.schema import TS, metadata

masterdata_state = sa.Table(
    "masterdata_state",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("list_name", sa.String(30), primary_key=True),
    sa.Column("value_key", sa.String(100), primary_key=True),
    sa.Column("exported_hash", sa.String(64), nullable=False),
    sa.Column("exported_row", sa.JSON, nullable=False),  # the row as sent (for active=false later)
    sa.Column("exported_at", TS, nullable=False),
    sa.Column("upload_id", sa.Integer, nullable=False),
)

masterdata_uploads = sa.Table(
    "masterdata_uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("list_name", sa.String(30), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),  # full | delta
    sa.Column("file_name", sa.String(300), nullable=False),
    sa.Column("remote_path", sa.String(1000), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # pending | uploaded | failed
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
)
sa.Index(
    "ix_masterdata_uploads_list",
    masterdata_uploads.c.connection,
    masterdata_uploads.c.list_name,
    masterdata_uploads.c.status,
)
