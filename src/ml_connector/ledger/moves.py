"""``Move``: one event of ``states.TRANSITIONS`` to apply to a document, with what it records.

A plain value (no database here), so that the pipeline can name the events of a chain that the
ledger applies in one commit (``ledger.aio.transitions``), e.g. ``created`` then ``posted``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Move:
    """One event; the fields are those of ``DocumentRecords.transition``."""

    event: str
    to_status: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] | None = None
    expect: Mapping[str, Any] | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


# One new document for ``insert_documents``: its column values, its status, the reason recorded.
NewDocument = tuple[Mapping[str, Any], str, str]
