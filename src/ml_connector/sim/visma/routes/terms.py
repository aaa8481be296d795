"""VAT codes and credit terms: ``/v1/vat``, ``/v1/creditTerm``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import modified_filter, page_slice

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def vat_codes(sim: Simulator, request: SimRequest) -> SimResponse:
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    codes = sorted(sim.state.vat_codes.values(), key=lambda v: v.vat_id)
    return json_response(200, [v.dto() for v in codes if modified(v.last_modified)])


def credit_terms(sim: Simulator, request: SimRequest) -> SimResponse:
    """A paging envelope ``{pageNumber, pageSize, totalCount, records}`` (BasePaginationDto)."""
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    terms_id = request.q_str("termsId")
    items = [
        t
        for t in sorted(sim.state.credit_terms.values(), key=lambda t: t.terms_id)
        if (terms_id is None or t.terms_id == terms_id) and modified(t.last_modified)
    ]
    number = request.q_int("pageNumber") or 1
    size = min(request.q_int("pageSize") or sim.state.max_page_size, sim.state.max_page_size)
    page = page_slice(items, number, size, sim.state.max_page_size)
    return json_response(
        200,
        {
            "pageNumber": number,
            "pageSize": size,
            "totalCount": len(items),
            "records": [t.dto() for t in page],
        },
    )


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/vat", vat_codes),
    ("GET", "/v1/creditTerm", credit_terms),
]
