"""Suppliers: ``/v1/supplier`` (the supplier-ledger endpoints, supplierInvoice and supplierPayment, go
in modules of their own next to this one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of, modified_filter, page_slice, with_metadata

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def suppliers(sim: Simulator, request: SimRequest) -> SimResponse:
    greater = request.q_str("greaterThanValue")
    name = request.q_str("name")
    status = request.q_str("status")
    vat = request.q_str("vatRegistrationId")
    corporate = request.q_str("corporateId")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    items = [
        s
        for s in sorted(sim.state.suppliers.values(), key=lambda s: s.number)
        if (greater is None or s.number > greater)
        and (name is None or name.lower() in str(s.fields.get("name", "")).lower())
        and (status is None or s.fields.get("status") == status)
        and (vat is None or s.fields.get("vatRegistrationId") == vat)
        and (corporate is None or s.fields.get("corporateId") == corporate)
        and modified(s.last_modified)
    ]
    page = page_slice(items, request.q_int("pageNumber"), request.q_int("pageSize"), sim.state.max_page_size)
    expand = request.q_bool("expandAccountInformation")
    dtos = []
    for supplier in page:
        dto = supplier.dto()
        if not expand:
            dto.pop("glAccounts", None)
        dtos.append(dto)
    return json_response(200, with_metadata(dtos, len(items), sim.state.max_page_size))


def supplier(sim: Simulator, request: SimRequest) -> SimResponse:
    number = request.path_params["supplierCd"]
    supplier = sim.state.suppliers.get(number)
    if supplier is None:
        raise not_found(f"Supplier {number} not found.")
    return json_response(200, supplier.dto(), {"etag": etag_of(supplier.version)})


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/supplier", suppliers),
    ("GET", "/v1/supplier/{supplierCd}", supplier),
]
