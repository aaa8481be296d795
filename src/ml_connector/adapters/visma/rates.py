"""Currency rates as Visma holds them (``GET /v2/currencyrate``, ``CurrencyRateDto``).

A rate is effective from its ``effectiveDate`` until the next one of the same pair and rate type;
:func:`rate_on` picks the one in force on a day. Amounts and rates are Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ml_connector.adapters.visma.models import _date, _dec, _str

CURRENCY_RATE_PATH = "/v2/currencyrate"


@dataclass(frozen=True, slots=True)
class CurrencyRate:
    from_currency: str
    to_currency: str
    rate_type: str | None
    rate: Decimal
    effective: date | None
    mult_div: str | None  # "Multiply" (amount x rate) or "Divide"

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> CurrencyRate | None:
        rate = _dec(d, "rate")
        if rate is None or rate <= 0:
            return None
        return cls(
            from_currency=str(d.get("fromCurrencyId") or ""),
            to_currency=str(d.get("toCurrencyId") or ""),
            rate_type=_str(d, "rateType"),
            rate=rate,
            effective=_date(d, "effectiveDate"),
            mult_div=_str(d, "multDiv"),
        )

    @property
    def multiplier(self) -> Decimal:
        """What one unit of ``from_currency`` is in ``to_currency``."""
        return Decimal(1) / self.rate if (self.mult_div or "").lower().startswith("div") else self.rate


def rate_on(rates: Iterable[CurrencyRate], day: date) -> CurrencyRate | None:
    """The rate in force on ``day``: the latest effective on or before it (None: no rate yet)."""
    valid = [r for r in rates if r.effective is not None and r.effective <= day]
    return max(valid, key=lambda r: r.effective or day) if valid else None
