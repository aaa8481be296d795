"""Currencies: ``/v1/currency``; their rates: ``/v2/currencyrate`` (``sim/visma/currency_rates.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def currencies(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, [c.dto() for c in sorted(sim.state.currencies.values(), key=lambda c: c.id)])


def currency(sim: Simulator, request: SimRequest) -> SimResponse:
    currency = sim.state.currencies.get(request.path_params["curyId"])
    if currency is None:
        raise not_found(f"Currency {request.path_params['curyId']} not found.")
    return json_response(200, currency.dto())


def currency_rates(sim: Simulator, request: SimRequest) -> SimResponse:
    names = ("fromDate", "toDate", "fromCurrency", "toCurrency", "rateType")
    rates = sim.currency_rates.list({name: request.q_str(name) for name in names})
    return json_response(200, [r.dto() for r in rates])


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/currency", currencies),
    ("GET", "/v1/currency/{curyId}", currency),
    ("GET", "/v2/currencyrate", currency_rates),
]
