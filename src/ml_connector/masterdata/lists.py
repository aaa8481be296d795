"""What each coding list holds: its file prefix, columns and key, and how Visma's records become rows.

Every value is a string (empty means none). ``active`` says whether Stampli may offer the value for
coding: a row is never left out once it was sent; it comes back as ``active=false`` instead.

A list only offers values that post without parking on master data or mapping:
    accounts      every GL account that allows manual entry (control accounts never; an account that
                  stops allowing it goes out as inactive); ``active`` is Visma's flag
    cost_centers  the values of the SUBACCOUNT segment ``mapping.cost_center_segment_id``
    projects      one row per ``mapping.project_map`` entry (the Stampli code) whose SUBACCOUNT value
                  exists; Visma values no entry points to are reported, not offered
    vat_codes     Visma's VAT ids; active while valid (``notValidAfter``) and bookable: in journal mode
                  mapped to a VAT account (``mapping.tax_accounts`` or ``mapping.reverse_charge``) or
                  at a zero rate (no VAT line to book); with ``posting.target = "supplier_invoice"``
                  named in ``mapping.tax_codes`` (Visma books the VAT on the code's own accounts,
                  reverse charge included); unmapped ones go out inactive and are reported
    credit_terms  terms visible to suppliers (``visibleTo`` AL, VE); ``DS`` (disabled) is inactive
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Protocol

from ml_connector.adapters.visma.models import Account, CreditTerm, Segment, VatCode
from ml_connector.config.model import MappingConfig, PostingTargetName
from ml_connector.vendors.mapping import utc_text

Row = dict[str, str]


@dataclass
class Catalog:
    """What was read from Visma for one export (only the parts the chosen lists need)."""

    accounts: list[Account] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    vat_codes: list[VatCode] = field(default_factory=list)
    credit_terms: list[CreditTerm] = field(default_factory=list)


@dataclass
class Built:
    rows: dict[str, Row]  # value key -> row
    read: int  # records read from Visma for this list
    notes: list[str] = field(default_factory=list)  # what a person may want to fix (not errors)


class ListBuilder(Protocol):
    """How a list's rows are made from Visma's records; ``target`` is the connection's
    ``posting.target`` (what "posts without parking" means depends on it)."""

    def __call__(
        self, cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = ...
    ) -> Built: ...


@dataclass(frozen=True)
class ListSpec:
    name: str  # as in config and --list
    prefix: str  # file name prefix
    key: str  # the key column
    columns: tuple[str, ...]
    source: str  # the Catalog field it needs
    build: ListBuilder


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _dec(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():f}"


def _int(value: int | None) -> str:
    return "" if value is None else str(value)


def _accounts(
    cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = "journal"
) -> Built:
    rows = {
        a.number: {
            "accountNumber": a.number,
            "description": a.description or "",
            "type": a.type or "",
            "accountClass": a.account_class or "",
            "active": _flag(a.active is not False),
            "lastModified": utc_text(a.last_modified, tz),
        }
        for a in cat.accounts
        if a.number and a.allow_manual_entry is not False
    }
    return Built(rows, len(cat.accounts))


def _segment(cat: Catalog, segment_id: int | None) -> Segment | None:
    return next((s for s in cat.segments if s.segment_id == segment_id), None)


def _cost_centers(
    cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = "journal"
) -> Built:
    seg = _segment(cat, mapping.cost_center_segment_id)
    if seg is None:
        note = f"SUBACCOUNT has no segment {mapping.cost_center_segment_id} (mapping.cost_center_segment_id)"
        return Built({}, 0, [note])
    rows = {
        v.value: {
            "costCenterId": v.value,
            "description": v.description or "",
            "active": _flag(v.active is not False),
            "lastModified": utc_text(v.last_modified, tz),
        }
        for v in seg.values
        if v.value
    }
    return Built(rows, len(seg.values))


def _projects(
    cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = "journal"
) -> Built:
    seg = _segment(cat, mapping.project_segment_id)
    if mapping.project_segment_id is None or seg is None:
        return Built({}, 0, [f"SUBACCOUNT has no project segment {mapping.project_segment_id}"])
    by_value = {v.value: v for v in seg.values}
    rows: dict[str, Row] = {}
    for code, value in sorted(mapping.project_map.items()):
        v = by_value.get(value)
        if v is None:
            continue  # not (yet) in Visma: not offered; an earlier row goes out as inactive
        rows[code] = {
            "projectId": code,
            "description": v.description or "",
            "segmentValue": v.value,
            "active": _flag(v.active is not False),
            "lastModified": utc_text(v.last_modified, tz),
        }
    mapped = set(mapping.project_map.values())
    unmapped = sorted(v for v in by_value if v not in mapped)
    notes = [f"project value(s) {', '.join(unmapped)} have no mapping.project_map entry"] if unmapped else []
    return Built(rows, len(seg.values), notes)


def _vat_codes(
    cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = "journal"
) -> Built:
    # Journal mode books VAT on the mapped accounts; the supplier ledger sends the code
    # (mapping.tax_codes) and Visma books it on the code's own accounts, reverse charge included.
    ledger = target == "supplier_invoice"
    mapped = (
        set(mapping.tax_codes) if ledger else set(mapping.tax_accounts) | set(mapping.reverse_charge or {})
    )
    rows: dict[str, Row] = {}
    unmapped: list[str] = []
    for v in cat.vat_codes:
        if not v.vat_id:
            continue
        until = v.not_valid_after
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=tz)
        valid = until is None or until.astimezone(UTC) >= now
        # A zero rate books no VAT line, so it needs no VAT account.
        usable = v.vat_id in mapped or (v.rate == 0 and not ledger)
        if valid and not usable:
            unmapped.append(v.vat_id)
        rows[v.vat_id] = {
            "vatCodeId": v.vat_id,
            "description": v.description or "",
            "vatType": v.type or "",
            "ratePercent": _dec(v.rate),
            "active": _flag(valid and usable),
            "lastModified": utc_text(v.last_modified, tz),
        }
    notes = []
    if unmapped:
        codes = ", ".join(sorted(unmapped))
        where = (
            "no Visma VAT code in mapping.tax_codes" if ledger else "no VAT account in mapping.tax_accounts"
        )
        notes.append(f"VAT code(s) {codes} have {where}; sent inactive")
    return Built(rows, len(cat.vat_codes), notes)


SUPPLIER_TERMS = frozenset({"AL", "VE", "DS"})


def _credit_terms(
    cat: Catalog, mapping: MappingConfig, tz: tzinfo, now: datetime, target: PostingTargetName = "journal"
) -> Built:
    rows = {
        t.terms_id: {
            "termsId": t.terms_id,
            "description": t.description or "",
            "dueDateType": t.due_date_type or "",
            "dueDays": _int(t.due_days),
            "discountPercent": _dec(t.discount_percent),
            "discountDays": _int(t.discount_days),
            "active": _flag((t.visible_to or "AL") != "DS"),
            "lastModified": utc_text(t.last_modified, tz),
        }
        for t in cat.credit_terms
        if t.terms_id and (t.visible_to or "AL") in SUPPLIER_TERMS
    }
    return Built(rows, len(cat.credit_terms))


SPECS: dict[str, ListSpec] = {
    s.name: s
    for s in (
        ListSpec(
            "accounts",
            "glaccounts",
            "accountNumber",
            ("accountNumber", "description", "type", "accountClass", "active", "lastModified"),
            "accounts",
            _accounts,
        ),
        ListSpec(
            "cost_centers",
            "costcenters",
            "costCenterId",
            ("costCenterId", "description", "active", "lastModified"),
            "segments",
            _cost_centers,
        ),
        ListSpec(
            "projects",
            "projects",
            "projectId",
            ("projectId", "description", "segmentValue", "active", "lastModified"),
            "segments",
            _projects,
        ),
        ListSpec(
            "vat_codes",
            "vatcodes",
            "vatCodeId",
            ("vatCodeId", "description", "vatType", "ratePercent", "active", "lastModified"),
            "vat_codes",
            _vat_codes,
        ),
        ListSpec(
            "credit_terms",
            "creditterms",
            "termsId",
            (
                "termsId",
                "description",
                "dueDateType",
                "dueDays",
                "discountPercent",
                "discountDays",
                "active",
                "lastModified",
            ),
            "credit_terms",
            _credit_terms,
        ),
    )
}

# Every list an export can name: the vendor file, then the coding lists above.
VENDORS = "vendors"
LIST_NAMES = (VENDORS, *SPECS)


def content_hash(spec: ListSpec, row: Mapping[str, str]) -> str:
    """Over every column but ``lastModified`` (a Visma edit Stampli cannot see is no change)."""
    values = [row.get(c, "") for c in spec.columns if c != "lastModified"]
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def inactive(spec: ListSpec, row: Mapping[str, str]) -> Row:
    """A value Visma (or the mapping) no longer offers: sent as ``active=false``, never deleted."""
    return {**{c: row.get(c, "") for c in spec.columns}, "active": "false"}
