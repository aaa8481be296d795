"""Visma master data as the pipeline needs it, whatever the adapter read it from.

Every time here is aware and in UTC: the adapter converts Visma's offset-less timestamps (company
or server local time) once, at its edge, and nothing downstream converts again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Account:
    number: str
    description: str | None = None
    type: str | None = None
    active: bool | None = True
    allow_manual_entry: bool | None = None
    control_account_module: str | None = None
    last_modified: datetime | None = None  # aware UTC
    currency: str | None = None  # a cash account's currency, when Visma names one


@dataclass(frozen=True, slots=True)
class SegmentValue:
    segment_id: int
    value: str
    description: str | None = None
    active: bool | None = True


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of the SUBACCOUNT dimension (e.g. 1 = department) with its values."""

    segment_id: int
    values: tuple[SegmentValue, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Supplier:
    number: str
    name: str | None = None
    status: str | None = "Active"
    currency_id: str | None = None
    last_modified: datetime | None = None  # aware UTC


@dataclass(frozen=True, slots=True)
class Period:
    """A financial period, ``YYYYMM``."""

    period: str
    active: bool | None = True
    closed_in_gl: bool | None = False
    start_date: date | None = None
    # Visma closes the supplier ledger (AP) on its own: a supplier invoice needs this open too.
    closed_in_ap: bool | None = False


@dataclass(frozen=True, slots=True)
class Currency:
    id: str
    is_base: bool | None = False
