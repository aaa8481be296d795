"""Typed values already read from one file without an issue, by cell text as written.

An export repeats the same texts (dates, currencies, line types, tax rates, common amounts), so
``build``'s field readers parse each distinct text once per file. Only a read that gave no issue
at all is remembered: a hit is exactly what the full read would return, and every error or
warning still comes from the full read. Each table is bounded (cleared when full; the amounts
table, which distinct unit prices fill, keeps what it has instead). Money amounts (a line's net and
tax, an invoice's totals) are nearly all distinct and are not remembered at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ml_connector.domain.money import minor_units
from ml_connector.stampli.values import ValueRules

# An amount's text to its value when that needs no full read (see ``ValueCache.amount_reader``).
AmountReader = Callable[[str | None], Decimal | None]


class ValueCache:
    # Distinct texts per table; 0 turns the cache off (every value takes the full read).
    limit = 20_000

    def __init__(self) -> None:
        self.amounts: dict[str, Decimal] = {}
        self.dates: dict[str, date] = {}
        self.stamps: dict[str, datetime] = {}  # aware as written (a naive one warns: not cached)
        self.ints: dict[str, int] = {}
        self.currencies: dict[str, str] = {}
        self.enums: dict[str, dict[str, str]] = {}  # per field name (each has its own values)
        self.readers: dict[str | None, AmountReader] = {}  # per currency (None: no minor unit)
        self.by_kind: dict[str, dict[str, Any]] = {
            "amount": self.amounts,
            "money": self.amounts,  # with no currency known, no minor unit to check (else not kept)
            "int": self.ints,
            "date": self.dates,
            "currency": self.currencies,
            "timestamp": self.stamps,
        }

    def enum_table(self, name: str) -> dict[str, str]:
        table = self.enums.get(name)
        if table is None:
            table = self.enums[name] = {}
        return table

    def amount_reader(self, rules: ValueRules, currency: str | None) -> AmountReader:
        """A function reading an amount's text in ``currency`` (None: any decimals) the way the
        full read would when that needs no checking: a value read before, or a short plain number
        (``ValueRules.plain_amount``) with no more decimals than the minor unit. Else None: only the
        full read can tell (and report). Built once per file and currency (one context's rules)."""
        reader = self.readers.get(currency)
        if reader is None:
            reader = self.readers[currency] = self._amount_reader(rules, currency)
        return reader

    def _amount_reader(self, rules: ValueRules, currency: str | None) -> AmountReader:
        # no more digits after the separator than the minor unit has decimals: it cannot be finer
        shape = rules.plain_shape_within(minor_units(currency) if currency is not None else None)
        comma = rules.decimal_sep == ","
        if currency is not None:
            # Money amounts are nearly all distinct (each line's net and tax): not remembered, a
            # table of them would only be filled and cleared. A plain one is one match and Decimal.
            if shape is None:
                return lambda text: None
            money_match = shape.fullmatch

            def read_money(text: str | None) -> Decimal | None:
                if not text or len(text) > 16 or money_match(text) is None:
                    return None
                return Decimal(text.replace(",", ".") if comma else text)  # the shape's only separator

            return read_money
        table = self.amounts  # quantities, unit prices, rates: some repeat
        get = table.get
        if shape is None:  # every new text needs the full read under these rules
            return lambda text: get(text) if text is not None else None
        fullmatch = shape.fullmatch
        limit = self.limit

        def read(text: str | None) -> Decimal | None:
            hit = get(text)  # type: ignore[arg-type]  # None is never a key
            if hit is not None:
                return hit
            if not text or len(text) > 16 or fullmatch(text) is None:
                return None
            amount = Decimal(text.replace(",", ".") if comma else text)  # the shape's only separator
            if len(table) < limit:  # once full, the table keeps what it has (no clear and refill)
                table[text] = amount
            return amount

        return read

    def remember(self, table: dict[str, Any], text: str, value: Any) -> None:
        if len(table) >= self.limit:
            table.clear()
        if self.limit:
            table[text] = value
