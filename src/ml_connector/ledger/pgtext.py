"""PostgreSQL text cannot hold NUL (0x00), SQLite's can: one rule for both ledgers.

A hostile export can carry NUL bytes into what the ledger keeps of it (a rejected record's raw text,
an issue quoting a value). Refusing to store it would stop the cycle on PostgreSQL with that file
unrecorded, read again every cycle; so on PostgreSQL every string parameter writes a NUL as the
visible text ``\\x00``. Nothing with a NUL is ever posted (the readers refuse control characters in
ids and in every text sent to Visma), so only what an operator reads is affected.
"""

from __future__ import annotations

from typing import Any

from psycopg.adapt import Buffer, Dumper
from psycopg.types import string

NUL_TEXT = "\\x00"

# In psycopg's own registration order: the last one registered for str is the default.
_BASES: tuple[type[Dumper], ...] = (
    string.StrBinaryDumperName,
    string.StrBinaryDumperVarchar,
    string.StrBinaryDumper,
    string.StrDumperName,
    string.StrDumperVarchar,
    string.StrDumper,
    string.StrDumperUnknown,
)


def _nul_safe(base: type[Dumper]) -> type[Dumper]:
    def dump(self: Dumper, obj: str) -> Buffer | None:
        return base.dump(self, obj.replace("\x00", NUL_TEXT))

    return type(f"NulSafe{base.__name__}", (base,), {"dump": dump})


DUMPERS = tuple(_nul_safe(b) for b in _BASES)


def register(dbapi_connection: Any) -> None:
    """For a new psycopg connection (SQLAlchemy's ``connect`` event)."""
    for dumper in DUMPERS:
        dbapi_connection.adapters.register_dumper(str, dumper)
