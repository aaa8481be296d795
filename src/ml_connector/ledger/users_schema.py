"""The dashboard's tables (migration 0003): users with a role and a scrypt password hash, and
server-side sessions (only a sha256 of the cookie value is stored, with the session's CSRF token).
"""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector.ledger.schema import TS, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(20), nullable=False),  # viewer | operator
    sa.Column("password_hash", sa.String(300), nullable=False),  # scrypt$n$r$p$salt$hash
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the cookie value
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)
sa.Index("ix_web_sessions_username", web_sessions.c.username)
