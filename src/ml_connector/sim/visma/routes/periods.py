"""Financial periods: ``/v1/financialPeriod``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def periods(sim: Simulator, request: SimRequest) -> SimResponse:
    greater = request.q_str("greaterThanValue")
    items = []
    for fp in sorted(sim.state.periods.values(), key=lambda p: p.period_id):
        if greater is not None:
            key = fp.period_id if len(greater) == 6 else str(fp.year)
            if not key > greater:
                continue
        items.append(fp.dto())
    return json_response(200, items)


def period(sim: Simulator, request: SimRequest) -> SimResponse:
    fp = sim.state.periods.get(request.path_params["financialPeriodId"])
    if fp is None:
        raise not_found(f"Financial period {request.path_params['financialPeriodId']} not found.")
    return json_response(200, fp.dto())


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/financialPeriod", periods),
    ("GET", "/v1/financialPeriod/{financialPeriodId}", period),
]
