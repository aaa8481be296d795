"""A document as the ledger keeps it: what the pipeline reads of a stored document.

The ledger converts its rows once (``ledger/documents.py``); the pipeline, the posting steps and
the services see only this. ``build_voucher`` (``pipeline/posting.py``) needs only the kind and
the stored source (the JSON form of the Invoice or Payment); a preview of a local file and a test
give just those, the other fields keep their "not stored" defaults.

The other records the pipeline reads from the ledger are converted the same way, once, by the
ledger: ``StoredFile`` (a downloaded export file), ``StoredFailure`` (an open or closed failure),
``AuditEntry`` (one audit row) and ``StoredBankChange`` (a supplier's recorded bank change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar, Self

KINDS = ("invoice", "payment", "payment_void")


class _Record:
    """A ledger row converted once: ``of`` takes the fields a row (any mapping by column name) holds,
    ``as_dict`` gives every field back by name, as the row had them (for reports and tests)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class StoredDocument(_Record):
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


# Column order, so that ``as_dict`` lists the fields as the ledger's row did (keyword-only: any order).
@dataclass(frozen=True, kw_only=True)
class StoredFile(_Record):
    """A downloaded export file as the ledger keeps it (``ledger/files.py``): seen once by hash."""

    id: int
    connection: str
    kind: str  # invoices | payments
    remote_path: str
    size: int
    mtime: datetime | None = None
    sha256: str
    status: str  # downloaded | processed | partial | rejected | too_large | set_aside
    archive_path: str | None = None  # our own copy, for replay
    documents: int = 0
    issues: Any = field(default=None, repr=False)
    first_seen: datetime | None = None
    processed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StoredFailure(_Record):
    """What a person (or a master-data change) must resolve (``ledger/failures.py``)."""

    id: int
    connection: str
    document_id: int | None = None
    file_id: int | None = None
    doc_key: str | None = None
    category: str
    code: str
    reason: str
    visma_answer: str | None = None
    missing: Any = None  # [{"kind": "segment_value", "key": "1:0450"}, ...]
    source: Any = field(default=None, repr=False)
    raw: str | None = field(default=None, repr=False)
    status: str  # open | resolved | superseded
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEntry(_Record):
    """One row of the audit trail (``ledger/audit.py``), written with the change it records."""

    id: int
    at: datetime
    connection: str | None = None
    entity: str  # document | file | failure | connection | vendor | ...
    entity_key: str | None = None
    action: str
    from_status: str | None = None
    to_status: str | None = None
    reason: str | None = None
    actor: str
    details: Any = None


BANK_CHANGED = "vendor_bank_changed"  # the failure code of a payment held for a person to confirm


@dataclass(frozen=True, kw_only=True)
class StoredBankChange(_Record):
    """A supplier's bank account change as the vendor export recorded it (``ledger/vendor_store.py``):
    ``changed_at`` Visma's time of the change, ``detected_at`` ours; ``old``/``new`` masked."""

    id: int
    connection: str
    vendor_id: str
    changed_at: datetime
    detected_at: datetime
    old: Mapping[str, str] | None = None
    new: Mapping[str, str] | None = None
