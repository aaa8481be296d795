"""What the destination holds: a booked voucher (a Visma journal transaction today), as read back.

The pipeline settles unknown outcomes, adopts what is already booked and reconciles against these;
the adapter builds them from its wire records at its edge. Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class BookedLine:
    account: str
    debit: Decimal  # in the voucher's currency
    credit: Decimal
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Booked:
    """One booked voucher (a journal batch), found by number or in a listing."""

    number: str  # the batch number
    status: str | None = None
    financial_period: str | None = None  # YYYYMM
    currency: str | None = None
    lines: tuple[BookedLine, ...] = ()
    last_modified: datetime | None = None  # aware UTC
    timestamp: str | None = None  # the destination's version stamp in the body (same as the ETag)
    etag: str | None = None  # only a single read carries one

    @property
    def references(self) -> frozenset[str]:
        return frozenset(ln.reference for ln in self.lines if ln.reference)


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a create: the number the destination gave the voucher."""

    number: str
    etag: str | None
    location: str


@dataclass(frozen=True, slots=True)
class Attached:
    """The destination's answer to an uploaded file: Visma's ``AttachmentDto`` (name, id, revision).

    Visma's API gives no size or hash of a stored file back; the answer naming our file with a
    revision is the check the spec allows (the simulator's ``/_sim/`` pages compare the bytes)."""

    name: str
    attachment_id: str | None
    revision: int | None
    etag: str | None = None  # the document's version after the upload (its release must name it)
