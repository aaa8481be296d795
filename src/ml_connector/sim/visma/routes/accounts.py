"""GL accounts and subaccounts: ``/v1/account``, ``/v1/subaccount``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response, skip_take
from ml_connector.sim.visma.state import etag_of, modified_filter, page_slice, with_metadata

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def accounts(sim: Simulator, request: SimRequest) -> SimResponse:
    active = request.q_bool("active")
    greater = request.q_str("greaterThanValue")
    public_code = request.q_str("publicCode")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    items = [
        a
        for a in sorted(sim.state.accounts.values(), key=lambda a: a.number)
        if (active is None or a.active == active)
        and (greater is None or a.number > greater)
        and (public_code is None or a.number == public_code)
        and modified(a.last_modified)
    ]
    total = len(items)
    items = skip_take(items, request)
    return json_response(200, with_metadata([a.dto() for a in items], total, sim.state.max_page_size))


def account(sim: Simulator, request: SimRequest) -> SimResponse:
    number = request.path_params["accountCd"]
    account = sim.state.accounts.get(number)
    if account is None:
        raise not_found(f"Account {number} not found.")
    return json_response(200, account.dto(), {"etag": etag_of(account.version)})


def subaccounts(sim: Simulator, request: SimRequest) -> SimResponse:
    active = request.q_bool("active")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    subs = [
        s
        for s in sorted(sim.state.subaccounts.values(), key=lambda s: s.number)
        if (active is None or s.active == active) and modified(s.last_modified)
    ]
    page = page_slice(subs, request.q_int("pageNumber"), request.q_int("pageSize"), sim.state.max_page_size)
    dtos = [sim.state.subaccount_dto(s) for s in page]
    return json_response(200, with_metadata(dtos, len(subs), sim.state.max_page_size))


def subaccount(sim: Simulator, request: SimRequest) -> SimResponse:
    number = request.path_params["subAccountNumber"]
    for sub in sim.state.subaccounts.values():
        if number in {sub.number, "".join(sub.values)}:
            return json_response(200, sim.state.subaccount_dto(sub), {"etag": etag_of(sub.version)})
    raise not_found(f"Subaccount {number} not found.")


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/account", accounts),
    ("GET", "/v1/account/{accountCd}", account),
    ("GET", "/v1/subaccount", subaccounts),
    ("GET", "/v1/subaccount/{subAccountNumber}", subaccount),
]
