"""The vendor export's ledger tables (migration 0002): what Stampli was last sent per vendor, every
upload attempt, and every bank-account change seen in Visma.

``vendor_state.exported_hash`` moves only in the transaction that marks an upload ``uploaded``, so
a failed upload leaves every hash where it was and the next delta sends the same vendors again.
"""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector.ledger.schema import TS, metadata

vendor_state = sa.Table(
    "vendor_state",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("vendor_id", sa.String(60), primary_key=True),
    # What Stampli holds: set only after a confirmed upload.
    sa.Column("exported_hash", sa.String(64), nullable=True),
    sa.Column("exported_row", sa.JSON, nullable=True),  # the §4.6 row as sent (for active=false later)
    sa.Column("exported_at", TS, nullable=True),
    sa.Column("upload_id", sa.Integer, nullable=True),
    # What Visma last showed for the bank account (drift detection), independent of uploads.
    sa.Column("bank_hash", sa.String(64), nullable=True),
    sa.Column("bank_masked", sa.JSON, nullable=True),
    sa.Column("bank_seen_at", TS, nullable=True),
)

vendor_uploads = sa.Table(
    "vendor_uploads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("mode", sa.String(10), nullable=False),  # full | delta
    sa.Column("file_name", sa.String(300), nullable=False),
    sa.Column("remote_path", sa.String(1000), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # pending | uploaded | failed
    sa.Column("vendors", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    # Newest Visma lastModifiedDateTime read for this file (UTC): the next delta reads from here.
    sa.Column("visma_mark", TS, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", TS, nullable=False),
    sa.Column("finished_at", TS, nullable=True),
)
sa.Index("ix_vendor_uploads_status", vendor_uploads.c.connection, vendor_uploads.c.status)

vendor_bank_changes = sa.Table(
    "vendor_bank_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(100), nullable=False),
    sa.Column("vendor_id", sa.String(60), nullable=False),
    sa.Column("changed_at", TS, nullable=False),  # Visma's lastModifiedDateTime (UTC), else detection time
    sa.Column("detected_at", TS, nullable=False),
    sa.Column("old", sa.JSON, nullable=True),  # masked: {"iban": "****7947", "bankAccountNumber": ...}
    sa.Column("new", sa.JSON, nullable=True),
)
sa.Index("ix_vendor_bank_changes_vendor", vendor_bank_changes.c.connection, vendor_bank_changes.c.vendor_id)
