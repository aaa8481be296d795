"""The invoice image per document: its file name in images/, sha256, size and our archived copy,
why it is missing (a warning), and when it was attached in Visma (pipeline/images.py, attach.py).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (
    ("image_name", sa.String(300)),
    ("image_sha256", sa.String(64)),
    ("image_size", sa.BigInteger),
    ("image_path", sa.String(1000)),
    ("image_note", sa.Text),
    ("image_attached_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
