"""A snapshot of the Visma master data a cycle validates against, read from the ledger's cache.

The cache is refreshed once per cycle (incrementally where Visma allows it), so validation makes
no per-invoice API calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "account"
SEGMENT_VALUE = "segment_value"
SUPPLIER = "supplier"
PERIOD = "period"
# A period that must be open in the supplier ledger as well (auto-replay waits for both).
AP_PERIOD = "ap_period"
CURRENCY = "currency"


def segment_key(segment_id: int, value: str) -> str:
    return f"{segment_id}:{value}"


@dataclass(frozen=True)
class MasterData:
    company_id: str
    accounts: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)
    segment_values: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)
    suppliers: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)
    periods: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)  # key YYYYPP
    currencies: Mapping[str, tuple[bool, dict[str, Any]]] = field(default_factory=dict)

    def has(self, kind: str, key: str) -> bool:
        table = {
            ACCOUNT: self.accounts,
            SEGMENT_VALUE: self.segment_values,
            SUPPLIER: self.suppliers,
            PERIOD: self.periods,
            CURRENCY: self.currencies,
        }[kind]
        entry = table.get(key)
        return entry is not None and entry[0]

    @property
    def base_currency(self) -> str | None:
        for code, (_active, data) in self.currencies.items():
            if data.get("is_base"):
                return code
        return None

    def period_open(self, period: str, *, supplier_ledger: bool = False) -> bool:
        """Open in the general ledger and, for a supplier invoice (``supplier_ledger``), in the
        supplier ledger too: Visma closes the two separately (``closedInSupplierLedger``)."""
        entry = self.periods.get(period)
        if entry is None or not entry[0] or entry[1].get("closed_in_gl", False):
            return False
        return not (supplier_ledger and entry[1].get("closed_in_ap", False))

    def next_open_period(self, period: str, *, supplier_ledger: bool = False) -> str | None:
        later = sorted(
            p for p in self.periods if p > period and self.period_open(p, supplier_ledger=supplier_ledger)
        )
        return later[0] if later else None
