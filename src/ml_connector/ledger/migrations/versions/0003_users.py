"""Reserved for the users tables (filled in by the issue that needs them; a no-op until then).

Revision ID: 0003
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
