"""``ledger/*schema.py`` (what the code queries) and the Alembic migrations (what a database gets)
describe the same tables: a migrated database compared with the metadata shows no difference."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

# Every schema module registers its tables on the one metadata.
from ml_connector.ledger import (  # noqa: F401
    masterdata_schema,
    scale_schema,
    users_schema,
    vault_schema,
    vendor_schema,
)
from ml_connector.ledger.schema import metadata
from ml_connector.ledger.store import Ledger


def test_migrated_database_matches_the_schema_modules(ledger_url: str) -> None:
    ledger = Ledger.open(ledger_url)
    try:
        with ledger.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, metadata)
    finally:
        ledger.close()
    assert diff == [], f"schema modules and migrations differ: {diff}"
    assert "connection_identity" in metadata.tables  # migration 0006 and schema.py in step
