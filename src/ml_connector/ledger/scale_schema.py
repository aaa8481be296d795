"""Tables of the scaled-out mode (migration 0005): several workers over one PostgreSQL ledger.

* ``rate_budgets``: one row per Visma rate window (API URL, client, tenant). Every worker reserves
  its calls from this row under ``SELECT ... FOR UPDATE``, so the budget is shared, not per process.
* ``scale_schedule``: when each connection's next poll cycle is due (the scheduler tick reads it).
* ``scale_connections``: connections defined in the database instead of the configuration file,
  as the TOML text of one ``[connections.NAME]`` table (secrets only as ``vault:``/``env:`` refs).
"""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector.ledger.schema import TS, metadata

rate_budgets = sa.Table(
    "rate_budgets",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("limit_", sa.Integer, nullable=True),  # X-RateLimit-Limit last reported
    sa.Column("remaining", sa.Integer, nullable=True),  # pessimistic: every reservation counts
    sa.Column("reset_at", sa.Float, nullable=True),  # wall-clock seconds of the window's end
    sa.Column("last_slot", sa.Float, nullable=True),
    sa.Column("blocked_until", sa.Float, nullable=True),  # a 429's Retry-After, for everybody
    sa.Column("inflight", sa.Integer, nullable=False, server_default="0"),  # reserved, not yet answered
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),  # calls, all workers
    sa.Column("throttled", sa.BigInteger, nullable=False, server_default="0"),  # 429s, all workers
    sa.Column("updated_at", TS, nullable=False),
)

scale_schedule = sa.Table(
    "scale_schedule",
    metadata,
    sa.Column("connection", sa.String(100), primary_key=True),
    sa.Column("next_due", TS, nullable=False),
    sa.Column("last_dispatched", TS, nullable=True),
)

scale_connections = sa.Table(
    "scale_connections",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),  # TOML of one [connections.NAME] table
    sa.Column("updated_at", TS, nullable=False),
)
