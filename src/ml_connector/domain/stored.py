"""A document as the ledger keeps it: what the pipeline reads of a stored document.

The ledger converts its rows once (``ledger/documents.py``); the pipeline, the posting steps and
the services see only this. ``build_voucher`` (``pipeline/posting.py``) needs only the kind and
the stored source (the JSON form of the Invoice or Payment); a preview of a local file and a test
give just those, the other fields keep their "not stored" defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

KINDS = ("invoice", "payment", "payment_void")


@dataclass(frozen=True)
class StoredDocument:
    kind: str  # one of KINDS
    source: Mapping[str, Any] = field(repr=False)  # invoice_json / payment_json of the document
    doc_key: str = ""
    id: int = 0  # the ledger's id; 0 for a document not stored (a preview)
    connection: str = ""
    status: str = ""  # ledger.states.DocStatus; "" for a document not stored
    content_hash: str = ""
    reference: str = ""  # written on every Visma line: findable again
    vendor_id: str | None = None
    vendor_name: str | None = None
    number: str | None = None
    document_date: date | None = None
    currency: str | None = None
    amount: str | None = None  # exact decimal text
    period: str | None = None  # YYYYMM the voucher was (or would be) posted in
    file_id: int | None = None
    raw: str | None = field(default=None, repr=False)
    voucher: Mapping[str, Any] | None = field(default=None, repr=False)  # the payload sent to Visma
    batch_number: str | None = None
    etag: str | None = None
    attempts: int = 0
    claimed_by: str | None = None
    claim_expires: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The invoice image (pipeline/images.py): file name in images/, sha256, size, our archived copy,
    # why there is none (a warning), when it was attached in Visma (pipeline/attach.py).
    image_name: str | None = None
    image_sha256: str | None = None
    image_size: int | None = None
    image_path: str | None = None
    image_note: str | None = None
    image_attached_at: datetime | None = None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> StoredDocument:
        """From a ledger row (any mapping with ``kind`` and ``source``; other columns if stored)."""
        values = {f.name: row[f.name] for f in fields(cls) if f.name in row and row[f.name] is not None}
        values["source"] = dict(row["source"])
        for text in ("kind", "doc_key", "connection", "status", "content_hash", "reference"):
            if text in values:
                values[text] = str(values[text])
        for number in ("id", "attempts"):
            if number in values:
                values[number] = int(values[number])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name, as the ledger's row had them (for reports and tests)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
