"""Currency rates (``GET /v2/currencyrate``): a rate per currency pair, rate type and effective date.

Not in the published files we hold; the fields and filters follow the generated client of Visma's
Service API (``CurrencyRateDto``: id, fromCurrencyId, toCurrencyId, rateType, rate, effectiveDate,
multDiv, rateReciprocal; filters fromDate, toDate, fromCurrency, toCurrency, rateType). A new state
starts with one ``SPOT`` rate per foreign currency, effective 2020-01-01, at the currency's seeded rate
to the base currency; ``POST /_sim/currency-rates`` adds more (e.g. another day's rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ml_connector.sim.visma.errors import bad_request
from ml_connector.sim.visma.state import VismaState, as_decimal, as_str, fmt_date, parse_filter_datetime

DEFAULT_RATE_TYPE = "SPOT"
SEED_DATE = datetime(2020, 1, 1)  # noqa: DTZ001  (company-local, no offset)


@dataclass
class CurrencyRate:
    rate_id: int
    from_currency: str
    to_currency: str
    rate_type: str
    rate: Decimal
    effective: datetime
    mult_div: str = "Multiply"  # or "Divide": an amount in to_currency is amount / rate

    def dto(self) -> dict[str, Any]:
        return {
            "id": self.rate_id,
            "fromCurrencyId": self.from_currency,
            "toCurrencyId": self.to_currency,
            "rateType": self.rate_type,
            "rate": self.rate,
            "effectiveDate": fmt_date(self.effective),
            "multDiv": self.mult_div,
            "rateReciprocal": (Decimal(1) / self.rate).quantize(Decimal("0.00000001"), ROUND_HALF_UP),
        }


class CurrencyRates:
    """The rates of one :class:`VismaState` (a reset state starts again from its currencies)."""

    def __init__(self, state: VismaState) -> None:
        self.state = state
        self.rates: list[CurrencyRate] = []
        base = state.company.base_currency
        for currency in sorted(state.currencies.values(), key=lambda c: c.id):
            if not currency.is_base:
                self._add(currency.id, base, DEFAULT_RATE_TYPE, currency.rate_to_base, SEED_DATE)

    def _add(
        self,
        from_id: str,
        to_id: str,
        rate_type: str,
        rate: Decimal,
        effective: datetime,
        mult_div: str = "Multiply",
    ) -> CurrencyRate:
        entry = CurrencyRate(self.state.next_id(), from_id, to_id, rate_type, rate, effective, mult_div)
        self.rates.append(entry)
        return entry

    def add(self, body: dict[str, Any]) -> CurrencyRate:
        """A rate from ``/_sim/currency-rates``: fromCurrencyId, rate, effectiveDate (yyyy-MM-dd),
        optionally toCurrencyId (the base currency), rateType (SPOT) and multDiv (Multiply)."""
        from_id = as_str(body.get("fromCurrencyId"), "fromCurrencyId")
        to_id = as_str(body.get("toCurrencyId", self.state.company.base_currency), "toCurrencyId")
        for cid in (from_id, to_id):
            if cid not in self.state.currencies:
                raise bad_request(f"Currency '{cid}' does not exist.")
        rate = as_decimal(body.get("rate"), "rate")
        if rate <= 0:
            raise bad_request("'rate' must be greater than zero.")
        effective = parse_filter_datetime(as_str(body.get("effectiveDate"), "effectiveDate"), "effectiveDate")
        rate_type = as_str(body.get("rateType", DEFAULT_RATE_TYPE), "rateType")
        mult_div = as_str(body.get("multDiv", "Multiply"), "multDiv")
        if mult_div not in ("Multiply", "Divide"):
            raise bad_request("'multDiv' must be 'Multiply' or 'Divide'.")
        return self._add(from_id, to_id, rate_type, rate, effective, mult_div)

    def on(self, currency: str, day: date) -> Decimal:
        """The SPOT rate of ``currency`` to the company's in effect on ``day`` (the latest one
        effective by then), as a multiplier."""
        base = self.state.company.base_currency
        found = [
            r
            for r in self.rates
            if (r.from_currency, r.to_currency, r.rate_type) == (currency, base, DEFAULT_RATE_TYPE)
            and r.effective.date() <= day
        ]
        if not found:
            raise bad_request(f"No {DEFAULT_RATE_TYPE} rate of {currency} to {base} on {day}.")
        latest = max(found, key=lambda r: r.effective)
        return latest.rate if latest.mult_div == "Multiply" else Decimal(1) / latest.rate

    def list(self, filters: dict[str, str | None]) -> list[CurrencyRate]:
        start = filters.get("fromDate")
        end = filters.get("toDate")
        low = None if start is None else parse_filter_datetime(start, "fromDate")
        high = None if end is None else parse_filter_datetime(end, "toDate")
        return [
            r
            for r in sorted(self.rates, key=lambda r: (r.from_currency, r.rate_type, r.effective))
            if filters.get("fromCurrency") in (None, r.from_currency)
            and filters.get("toCurrency") in (None, r.to_currency)
            and filters.get("rateType") in (None, r.rate_type)
            and (low is None or r.effective >= low)
            and (high is None or r.effective <= high)
        ]
