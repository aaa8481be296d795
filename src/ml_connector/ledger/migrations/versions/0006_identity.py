"""Ledger identity: per connection, the Stampli company and the Visma tenant and company its
history belongs to (see ml_connector.ledger.identity). Recorded on first use, not here: a
migration does not know the configuration.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection_identity",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("stampli_company_id", sa.String(100), nullable=False),
        sa.Column("visma_tenant_id", sa.String(200), nullable=False),
        sa.Column("visma_company_id", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_identity")
