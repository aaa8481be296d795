"""Branches and ledgers: ``/v1/branch``, ``/v1/ledger``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response, skip_take
from ml_connector.sim.visma.state import modified_filter

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def branches(sim: Simulator, request: SimRequest) -> SimResponse:
    greater = request.q_str("greaterThanValue")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    items = [
        b
        for b in sorted(sim.state.branches.values(), key=lambda b: b.number)
        if (greater is None or b.number > greater) and modified(b.last_modified)
    ]
    dtos = [sim.state.branch_dto(b) for b in items]
    return json_response(200, dtos)


def branch(sim: Simulator, request: SimRequest) -> SimResponse:
    number = request.path_params["branchNumber"]
    branch = sim.state.branches.get(number)
    if branch is None:
        raise not_found(f"Branch {number} not found.")
    return json_response(200, sim.state.branch_dto(branch))


def ledgers(sim: Simulator, request: SimRequest) -> SimResponse:
    greater = request.q_str("greaterThanValue")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    items = [
        ledger
        for ledger in sorted(sim.state.ledgers.values(), key=lambda x: x.number)
        if (greater is None or ledger.number > greater) and modified(ledger.last_modified)
    ]
    items = skip_take(items, request)
    return json_response(200, [ledger.dto() for ledger in items])


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/branch", branches),
    ("GET", "/v1/branch/{branchNumber}", branch),
    ("GET", "/v1/ledger", ledgers),
]
