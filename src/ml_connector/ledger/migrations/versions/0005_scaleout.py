"""Scaled-out mode: the shared Visma rate budgets, the poll schedule and connections kept in the
database (see ml_connector.ledger.scale_schema). Procrastinate's own schema is applied by
``ml-connector db upgrade`` (PostgreSQL only), not here.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_budgets",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("limit_", sa.Integer, nullable=True),
        sa.Column("remaining", sa.Integer, nullable=True),
        sa.Column("reset_at", sa.Float, nullable=True),
        sa.Column("last_slot", sa.Float, nullable=True),
        sa.Column("blocked_until", sa.Float, nullable=True),
        sa.Column("inflight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("throttled", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scale_schedule",
        sa.Column("connection", sa.String(100), primary_key=True),
        sa.Column("next_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_dispatched", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "scale_connections",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scale_connections")
    op.drop_table("scale_schedule")
    op.drop_table("rate_budgets")
