"""Supplier payments (AP302000): list, read (both key forms), create (including ``VoidPayment``) and
release. The rules are in ``sim/visma/supplier_payments.py``.

``GET /v1/supplierPayment/{paymentNumber}`` serves the ``Payment`` of that number (a ``VoidPayment``
shares its original's number; read it through ``/v1/supplierPayment/VoidPayment/{paymentNumber}``),
as the short supplier-invoice path serves only ``Invoice``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.actions import action_response, created
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of, page_slice, with_metadata
from ml_connector.sim.visma.supplier_payments import SupplierPayment

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler

BASE = "/v1/supplierPayment"
FILTERS = (
    "supplier",
    "paymentType",
    "status",
    "financialPeriod",
    "greaterThanValue",
    "invoiceRefNbr",
    "docDate",
    "docDateCondition",
)


def payment_list(sim: Simulator, request: SimRequest) -> SimResponse:
    items = sim.supplier_payments.find({name: request.q_str(name) for name in FILTERS})
    page = page_slice(items, request.q_int("pageNumber"), request.q_int("pageSize"), sim.state.max_page_size)
    return json_response(200, with_metadata([p.dto() for p in page], len(items), sim.state.max_page_size))


def payment_create(sim: Simulator, request: SimRequest) -> SimResponse:
    """201 + Location; the create faults apply (``drop_next``: stored, then no answer)."""
    payment = sim.supplier_payments.create(request.json())
    return created(sim, _location(request, payment), payment.version)


def payment_get_short(sim: Simulator, request: SimRequest) -> SimResponse:
    return _dto_response(sim.supplier_payments.get("Payment", request.path_params["paymentNumber"]))


def payment_get(sim: Simulator, request: SimRequest) -> SimResponse:
    params = request.path_params
    return _dto_response(sim.supplier_payments.get(params["paymentType"], params["paymentNumber"]))


def release(sim: Simulator, request: SimRequest) -> SimResponse:
    background = request.headers.get("erp-api-background") is not None
    body = request.json() if request.body.strip() else None
    result = sim.supplier_payments.release(
        request.path_params["paymentNumber"], body, request.headers.get("if-match"), background=background
    )
    return action_response(request, result.outcome, result.error or "Release failed.", result.payment.version)


def _location(request: SimRequest, payment: SupplierPayment) -> str:
    if payment.type == "Payment":
        return f"{request.base_url}{BASE}/{payment.reference_number}"
    return f"{request.base_url}{BASE}/{payment.type}/{payment.reference_number}"


def _dto_response(payment: SupplierPayment) -> SimResponse:
    return json_response(200, payment.dto(), {"etag": etag_of(payment.version)})


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", BASE, payment_list),
    ("POST", BASE, payment_create),
    ("POST", f"{BASE}/{{paymentNumber}}/action/release", release),
    ("GET", f"{BASE}/{{paymentType}}/{{paymentNumber}}", payment_get),
    ("GET", f"{BASE}/{{paymentNumber}}", payment_get_short),
]
