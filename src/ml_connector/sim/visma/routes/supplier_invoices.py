"""Supplier invoices (AP301000): list, read (both key forms), create, release and attachments.

``GET /v1/supplierInvoice/{invoiceNumber}`` serves only documents of type ``Invoice``; any other type
is read through ``/v1/supplierInvoice/{documentType}/{invoiceNumber}`` (visma-ap.md §3). The state and
the rules are in ``sim/visma/supplier_ledger.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.actions import action_response
from ml_connector.sim.visma.attachments import file_part
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of, page_slice, with_metadata
from ml_connector.sim.visma.supplier_ledger import SupplierInvoice

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler

BASE = "/v1/supplierInvoice"


def invoice_list(sim: Simulator, request: SimRequest) -> SimResponse:
    ledger = sim.supplier_ledger
    items = ledger.list(
        supplier=request.q_str("supplier"),
        document_type=request.q_str("documentType"),
        status=request.q_str("status"),
        financial_period=request.q_str("financialPeriod"),
        greater_than=request.q_str("greaterThanValue"),
    )
    skip = request.q_int("skipRecords") or 0
    take = request.q_int("numberToRead")
    window = items[skip:] if take is None else items[skip : skip + take]
    page = page_slice(window, request.q_int("pageNumber"), request.q_int("pageSize"), sim.state.max_page_size)
    expand = bool(request.q_bool("expandAttachment"))
    dtos = [inv.dto(attachments=expand) for inv in page]
    return json_response(200, with_metadata(dtos, len(items), sim.state.max_page_size))


def invoice_create(sim: Simulator, request: SimRequest) -> SimResponse:
    invoice = sim.supplier_ledger.create(request.json())
    headers = {"location": _location(request, invoice), "etag": etag_of(invoice.version)}
    return SimResponse(201, None, headers)


def invoice_get_short(sim: Simulator, request: SimRequest) -> SimResponse:
    """Only ``Invoice``: a DebitAdj with this number is "not found" here, as on the real service."""
    return _dto_response(sim.supplier_ledger.get("Invoice", request.path_params["invoiceNumber"]))


def invoice_get(sim: Simulator, request: SimRequest) -> SimResponse:
    params = request.path_params
    return _dto_response(sim.supplier_ledger.get(params["documentType"], params["invoiceNumber"]))


def invoice_update(sim: Simulator, request: SimRequest) -> SimResponse:
    """PUT: 204 and the new ETag (only ``paySelected`` is modelled)."""
    params = request.path_params
    if_match = request.headers.get("if-match")
    invoice = sim.supplier_ledger.update(
        params["documentType"], params["invoiceNumber"], request.json(), if_match
    )
    return SimResponse(204, None, {"etag": etag_of(invoice.version)})


def release_short(sim: Simulator, request: SimRequest) -> SimResponse:
    return _release(sim, request, "Invoice")


def release(sim: Simulator, request: SimRequest) -> SimResponse:
    return _release(sim, request, request.path_params["documentType"])


def attach_short(sim: Simulator, request: SimRequest) -> SimResponse:
    return _attach(sim, request, "Invoice")


def attach(sim: Simulator, request: SimRequest) -> SimResponse:
    return _attach(sim, request, request.path_params["documentType"])


# ---------------------------------------------------------------------------------------- helpers


def _location(request: SimRequest, invoice: SupplierInvoice) -> str:
    if invoice.document_type == "Invoice":
        return f"{request.base_url}{BASE}/{invoice.reference_number}"
    return f"{request.base_url}{BASE}/{invoice.document_type}/{invoice.reference_number}"


def _dto_response(invoice: SupplierInvoice) -> SimResponse:
    return json_response(200, invoice.dto(attachments=True), {"etag": etag_of(invoice.version)})


def _release(sim: Simulator, request: SimRequest, document_type: str) -> SimResponse:
    background = request.headers.get("erp-api-background") is not None
    number = request.path_params["invoiceNumber"]
    if_match = request.headers.get("if-match")
    result = sim.supplier_ledger.release(document_type, number, if_match, background=background)
    return action_response(request, result.outcome, result.error or "Release failed.", result.invoice.version)


def _attach(sim: Simulator, request: SimRequest, document_type: str) -> SimResponse:
    ledger = sim.supplier_ledger
    invoice = ledger.get(document_type, request.path_params["invoiceNumber"])
    name, data, content_type = file_part(request.headers.get("content-type", ""), request.body)
    attachment = ledger.attach(invoice, name, data, content_type)
    return json_response(201, attachment.dto(), {"etag": etag_of(invoice.version)})


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", BASE, invoice_list),
    ("POST", BASE, invoice_create),
    ("POST", f"{BASE}/documentType/{{documentType}}/{{invoiceNumber}}/attachment", attach),
    ("POST", f"{BASE}/{{documentType}}/{{invoiceNumber}}/action/release", release),
    ("POST", f"{BASE}/{{invoiceNumber}}/action/release", release_short),
    ("POST", f"{BASE}/{{invoiceNumber}}/attachment", attach_short),
    ("GET", f"{BASE}/{{documentType}}/{{invoiceNumber}}", invoice_get),
    ("PUT", f"{BASE}/{{documentType}}/{{invoiceNumber}}", invoice_update),
    ("GET", f"{BASE}/{{invoiceNumber}}", invoice_get_short),
]
