"""A document as the ledger keeps it, as far as the voucher rules need it.

``build_voucher`` (``pipeline/posting.py``) needs only the kind and the stored source (the JSON form
of the Invoice or Payment); a ledger row, a preview of a local file and a test all give one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("invoice", "payment", "payment_void")


@dataclass(frozen=True)
class StoredDocument:
    kind: str  # one of KINDS
    source: Mapping[str, Any] = field(repr=False)  # invoice_json / payment_json of the document
    doc_key: str = ""
    id: int = 0  # the ledger's id; 0 for a document not stored (a preview)

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> StoredDocument:
        """From a ledger row (any mapping with ``kind`` and ``source``, ``doc_key`` and ``id`` if stored)."""
        return cls(
            kind=str(row["kind"]),
            source=dict(row["source"]),
            doc_key=str(row.get("doc_key") or ""),
            id=int(row.get("id") or 0),
        )
