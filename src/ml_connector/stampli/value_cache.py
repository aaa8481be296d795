"""Typed values already read from one file without an issue, by cell text as written.

An export repeats the same texts (dates, currencies, line types, tax rates, common amounts), so
``build``'s field readers parse each distinct text once per file. Only a read that gave no issue
at all is remembered: a hit is exactly what the full read would return, and every error or
warning still comes from the full read. Each table is cleared when full, so memory stays bounded.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any


class ValueCache:
    # Distinct texts per table; 0 turns the cache off (every value takes the full read).
    limit = 20_000

    def __init__(self) -> None:
        self.amounts: dict[str, Decimal] = {}
        self.money: dict[str, dict[str, Decimal]] = {}  # per currency: amounts in its minor unit
        self.dates: dict[str, date] = {}
        self.stamps: dict[str, datetime] = {}  # aware as written (a naive one warns: not cached)
        self.ints: dict[str, int] = {}
        self.currencies: dict[str, str] = {}
        self.enums: dict[str, dict[str, str]] = {}  # per field name (each has its own values)
        self.by_kind: dict[str, dict[str, Any]] = {
            "amount": self.amounts,
            "money": self.amounts,  # with no currency known, no minor unit to check
            "int": self.ints,
            "date": self.dates,
            "currency": self.currencies,
            "timestamp": self.stamps,
        }

    def money_table(self, currency: str) -> dict[str, Decimal]:
        table = self.money.get(currency)
        if table is None:
            table = self.money[currency] = {}
        return table

    def enum_table(self, name: str) -> dict[str, str]:
        table = self.enums.get(name)
        if table is None:
            table = self.enums[name] = {}
        return table

    def remember(self, table: dict[str, Any], text: str, value: Any) -> None:
        if len(table) >= self.limit:
            table.clear()
        if self.limit:
            table[text] = value
