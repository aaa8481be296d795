"""Vendor-master drift: hold a payment whose supplier changed its bank account in Visma after the
payment was approved, until a person confirms it.

A posting rule, so it lives in the pipeline (the vendor export in ``vendors/`` records the bank changes
in the ledger's vendor store, and builds on the pipeline's ``Runtime``: the pipeline never imports it;
it reads the recorded changes through ``rt.ledger.vendors``, ``pipeline/ports.py::VendorDriftPort``).

``post_one`` calls ``bank_change_problems`` for every payment before claiming it. The payment is
parked with code ``vendor_bank_changed`` (category ``source_data``: the AP team verifies the change
with the supplier over a known channel). It is never replayed automatically. ``ml-connector replay
ID`` is the confirmation: it resolves the failure (audited with the person's name) and the payment
posts; a later bank change holds it again.

When was the payment approved? The payment export has no approval time, so the payment counts as
approved at its ``approvedAt`` column when the file carries one (kept in ``extra``), else at its
``exportedAt``, else at the start of its ``paymentDate`` (UTC). Approval precedes the export, so a
change after ``exportedAt`` certainly came after the approval.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from ml_connector.domain.stored import BANK_CHANGED, StoredDocument
from ml_connector.pipeline.rules import Category, Problem
from ml_connector.pipeline.runtime import Runtime


def approved_at(source: dict[str, Any]) -> datetime | None:
    extra = source.get("extra") or {}
    for text in (extra.get("approvedAt") if isinstance(extra, dict) else None, source.get("exportedAt")):
        if isinstance(text, str) and text:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                continue
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    day = source.get("paymentDate")
    if isinstance(day, str) and day:
        return datetime.combine(datetime.fromisoformat(day).date(), time(0), tzinfo=UTC)
    return None


def _describe(masked: Any) -> str:
    if not isinstance(masked, dict):
        return "none"
    parts = [f"{k} {v}" for k, v in masked.items() if v]
    return ", ".join(parts) or "none"


def bank_change_problems(rt: Runtime, row: StoredDocument, supplier: str | None) -> list[Problem]:
    """Empty unless the supplier's bank account changed after the payment was approved and nobody
    has confirmed the payment since."""
    if supplier is None:
        return []
    source: dict[str, Any] = dict(row.source)
    approved = approved_at(source)
    if approved is None:
        return []
    store = rt.ledger.vendors
    changes = store.bank_changes_since(rt.name, supplier, approved)
    if not changes:
        return []
    latest = changes[-1]
    if store.confirmed_after(row.id, latest.detected_at):
        return []
    number = source.get("paymentNumber") or source.get("stampliPaymentId")
    return [
        Problem(
            Category.SOURCE_DATA,
            BANK_CHANGED,
            f"supplier {supplier} changed its bank account in Visma at {latest.changed_at:%Y-%m-%d %H:%M}"
            f" UTC ({_describe(latest.old)} -> {_describe(latest.new)}), after payment {number} was"
            f" approved (approved or exported {approved:%Y-%m-%d %H:%M} UTC). Confirm the new bank details"
            " with the supplier over a known channel, then replay this failure to post the payment",
        )
    ]
