"""``VismaPorts.currency_rate``: the rate of a currency in force on a day, read with the real client
from ``GET /v2/currencyrate`` answers (an HTTP mock transport: the simulator on main does not serve
currency rates yet)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from ml_connector.adapters.visma.ports import VismaPorts
from tests.visma.test_client_support import FakeVisma, json_response

RATES = [
    {"fromCurrencyId": "EUR", "toCurrencyId": "NOK", "rateType": "SPOT", "rate": 11.40,
     "effectiveDate": "2025-03-01T00:00:00", "multDiv": "Multiply"},
    {"fromCurrencyId": "EUR", "toCurrencyId": "NOK", "rateType": "SPOT", "rate": 11.90,
     "effectiveDate": "2025-03-10T00:00:00", "multDiv": "Multiply"},
    {"fromCurrencyId": "EUR", "toCurrencyId": "NOK", "rateType": "BANK", "rate": 0.08,
     "effectiveDate": "2025-03-02T00:00:00", "multDiv": "Divide"},
    {"fromCurrencyId": "SEK", "toCurrencyId": "NOK", "rateType": "SPOT", "rate": 1.06,
     "effectiveDate": "2025-03-02T00:00:00", "multDiv": "Multiply"},
]  # fmt: skip


def _rate(fake: FakeVisma, day: date, rate_type: str | None) -> Decimal | None:
    async def go() -> Decimal | None:
        async with VismaPorts(fake.client()) as ports:
            return await ports.currency_rate("EUR", day, rate_type=rate_type)

    return asyncio.run(go())


def test_one_read_per_currency_day_and_type_while_the_ports_are_open() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v2/currencyrate", json_response(200, RATES))

    async def go() -> list[Decimal | None]:
        async with VismaPorts(fake.client()) as ports:
            days = (date(2025, 3, 3), date(2025, 3, 3), date(2025, 3, 4))
            return [await ports.currency_rate("EUR", d, rate_type="SPOT") for d in days]

    assert asyncio.run(go()) == [Decimal("11.4")] * 3
    assert len(fake.api_requests("GET", "/v2/currencyrate")) == 2


def test_the_rate_in_force_on_the_day_of_the_type_asked() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v2/currencyrate", json_response(200, RATES))
    assert _rate(fake, date(2025, 3, 3), "SPOT") == Decimal("11.4")  # not the later 11.90, not SEK
    assert _rate(fake, date(2025, 3, 10), "SPOT") == Decimal("11.9")
    assert _rate(fake, date(2025, 3, 3), "BANK") == Decimal(1) / Decimal("0.08")  # a Divide rate, inverted
    assert _rate(fake, date(2025, 2, 28), "SPOT") is None  # nothing in force yet
    assert _rate(fake, date(2025, 3, 3), None) == Decimal("12.5")  # any type: the latest in force
    sent = fake.api_requests("GET", "/v2/currencyrate")[0].url.params
    assert (sent["fromCurrency"], sent["toDate"], sent["rateType"]) == ("EUR", "2025-03-03", "SPOT")
