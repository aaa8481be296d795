"""The vault's table in the ledger database (``[vault] backend = "ledger"``, migration 0004).

Rows hold ciphertext only: the key id, a base64 nonce and base64 AES-GCM ciphertext. The master
key never reaches the database.
"""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector.ledger.schema import TS, metadata

vault_secrets = sa.Table(
    "vault_secrets",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("nonce", sa.String(32), nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)
