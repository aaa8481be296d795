"""The ``/_sim/`` test endpoints: stats, journal snapshot, reset, master-data changes, faults, rate
limit, token expiry, webhooks and the supplier ledger's settings and snapshot. No token is needed;
they are for tests and demos only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_connector.sim.visma.errors import bad_request, not_found
from ml_connector.sim.visma.faults import Faults, RateLimit
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response, sim_body
from ml_connector.sim.visma.state import as_decimal, parse_dto_datetime

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def stats(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.stats())


def stats_reset(sim: Simulator, request: SimRequest) -> SimResponse:
    sim.reset_stats()
    return json_response(200, sim.stats())


def journal(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.state.journal_snapshot())


def journal_attachments(sim: Simulator, request: SimRequest) -> SimResponse:
    """A batch's attachments with each revision's size and SHA-256 (Visma shows only name/id/revision)."""
    batch = sim.state.get_journal(request.path_params["number"])
    return json_response(200, [a.describe() for a in batch.attachments.values()])


def config(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.describe(request.base_url))


def reset(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    seed = body.get("seed", sim.config.seed)
    if not isinstance(seed, str):
        raise bad_request("seed must be a string")
    try:
        sim.state = sim.new_state(seed)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    sim.faults = Faults.parse(sim.config.faults)
    sim.windows.clear()
    sim.reset_stats()
    return json_response(200, {"seed": seed})


def account_add(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    try:
        account = sim.state.add_account(
            str(body["number"]),
            str(body.get("description", body["number"])),
            str(body.get("type", "Expense")),
            str(body.get("accountClass", "OTHER")),
            **_account_options(body),
        )
    except KeyError:
        raise bad_request("'number' is required") from None
    sim.notify_webhook("account", "Account.Created", {"accountCd": account.number})
    return json_response(201, account.dto())


def account_patch(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    changes = _account_options(body)
    if "description" in body:
        changes["description"] = str(body["description"])
    account = sim.state.update_account(request.path_params["number"], **changes)
    sim.notify_webhook("account", "Account.Changed", {"accountCd": account.number})
    return json_response(200, account.dto())


def segment_value(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    try:
        segment_id = int(body["segmentId"])
        value_id = str(body["valueId"])
    except (KeyError, ValueError, TypeError):
        raise bad_request("'segmentId' (int) and 'valueId' (str) are required") from None
    value = sim.state.add_segment_value(
        segment_id, value_id, str(body.get("description", value_id)), bool(body.get("active", True))
    )
    sim.notify_webhook(
        "segmentValue",
        "SegmentValue.Changed",
        {"dimensionId": "SUBACCOUNT", "segmentId": segment_id, "valueId": value_id},
    )
    return json_response(201, value.dto())


def period_add(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    try:
        year, period = int(body["year"]), int(body["period"])
    except (KeyError, ValueError, TypeError):
        raise bad_request("'year' and 'period' (1-12) are required") from None
    if not 1 <= period <= 12:
        raise bad_request("period must be 1-12")
    sim.state.add_period(
        year, period, closed_in_gl=bool(body.get("closed", False)), active=bool(body.get("active", True))
    )
    return json_response(201, sim.state.periods[f"{year:04d}{period:02d}"].dto())


def period_close(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.state.set_period_closed(request.path_params["periodId"], True).dto())


def period_open(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.state.set_period_closed(request.path_params["periodId"], False).dto())


def period_close_ap(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, _set_closed_in_ap(sim, request.path_params["periodId"], True))


def period_open_ap(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, _set_closed_in_ap(sim, request.path_params["periodId"], False))


def _set_closed_in_ap(sim: Simulator, period_id: str, closed: bool) -> dict[str, Any]:
    """``closedInSupplierLedger`` only: the general ledger keeps its own flag."""
    period = sim.state.periods.get(period_id)
    if period is None:
        raise not_found(f"Financial period {period_id} not found.")
    period.closed_in_ap = closed
    return period.dto()


def supplier_ledger_get(sim: Simulator, request: SimRequest) -> SimResponse:
    """Settings plus every supplier document, its warnings and attachment revisions (size, SHA-256)."""
    ledger = sim.supplier_ledger
    return json_response(200, {**ledger.describe(), "documents": ledger.snapshot()})


def supplier_payments_get(sim: Simulator, request: SimRequest) -> SimResponse:
    """Every supplier payment (and VoidPayment) with its applications."""
    return json_response(200, {"payments": sim.supplier_payments.snapshot()})


def supplier_ledger_set(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.supplier_ledger.configure(sim_body(request)))


def currency_rate_add(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(201, sim.currency_rates.add(sim_body(request)).dto())


def supplier_add(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    number = body.pop("number", None)
    if not isinstance(number, str) or not number:
        raise bad_request("'number' (string) is required")
    body.setdefault("status", "Active")
    supplier = sim.state.add_supplier(number, body)
    sim.notify_webhook("supplier", "Supplier.Created", {"supplierCd": number})
    return json_response(201, supplier.dto())


def supplier_patch(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    body.pop("number", None)
    supplier = sim.state.modify_supplier(request.path_params["number"], body)
    sim.notify_webhook("supplier", "Supplier.Updated", {"supplierCd": request.path_params["number"]})
    return json_response(200, supplier.dto())


def vat_code(sim: Simulator, request: SimRequest) -> SimResponse:
    """Create or change a VAT id: ``{"vatId", "description"?, "type"?, "rate"?, "notValidAfter"?,
    "vatPayableAccount"?, "vatClaimableAccount"?}``."""
    body = sim_body(request)
    vat_id = body.get("vatId")
    if not isinstance(vat_id, str) or not vat_id:
        raise bad_request("'vatId' (string) is required")
    fields: dict[str, Any] = {}
    names = (
        ("description", "description"),
        ("type", "type"),
        ("vatPayableAccount", "payable_account"),
        ("vatClaimableAccount", "claimable_account"),
    )
    for key, name in names:
        if isinstance(body.get(key), str):
            fields[name] = body[key]
    if "rate" in body:
        fields["rate"] = as_decimal(body["rate"], "rate")
    if "notValidAfter" in body:
        raw = body["notValidAfter"]
        fields["not_valid_after"] = None if raw is None else parse_dto_datetime(str(raw), "notValidAfter")
    return json_response(201, sim.state.set_vat_code(vat_id, **fields).dto())


def credit_term(sim: Simulator, request: SimRequest) -> SimResponse:
    """Create or change a credit term: ``{"termsId", "description"?, "dueDays"?, "visibleTo"?}``."""
    body = sim_body(request)
    terms_id = body.get("termsId")
    if not isinstance(terms_id, str) or not terms_id:
        raise bad_request("'termsId' (string) is required")
    fields: dict[str, Any] = {}
    if isinstance(body.get("description"), str):
        fields["description"] = body["description"]
    if isinstance(body.get("dueDays"), int):
        fields["due_days"] = body["dueDays"]
    if body.get("visibleTo") in {"AL", "VE", "CU", "DS"}:
        fields["visible_to"] = body["visibleTo"]
    return json_response(201, sim.state.set_credit_term(terms_id, **fields).dto())


def faults_get(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.faults.describe())


def faults_set(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    if body.get("reset"):
        sim.faults = Faults()
    spec = body.get("spec")
    if spec is not None and not isinstance(spec, str):
        raise bad_request("'spec' must be a string")
    try:
        sim.faults.update(spec)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return json_response(200, sim.faults.describe())


def rate_limit(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim_body(request)
    spec = body.get("spec")
    if not isinstance(spec, str):
        raise bad_request("'spec' (N/SECONDS) is required")
    try:
        sim.rate_limit = RateLimit.parse(spec)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    sim.windows.clear()
    return json_response(200, {"rate_limit": sim.rate_limit.describe()})


def tokens_expire(sim: Simulator, request: SimRequest) -> SimResponse:
    count = len(sim.tokens)
    for token in sim.tokens.values():
        token.expires_at = 0.0
    return json_response(200, {"expired": count})


def webhooks_get(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, sim.webhooks.describe())


def webhooks_set(sim: Simulator, request: SimRequest) -> SimResponse:
    try:
        return json_response(200, sim.webhooks.configure(sim_body(request)))
    except ValueError as exc:
        raise bad_request(str(exc)) from None


_ACCOUNT_KEYS = {
    "active": "active",
    "cashAccount": "cash_account",
    "controlAccountModule": "control_account_module",
    "allowManualEntry": "allow_manual_entry",
    "currency": "currency",
    "postOption": "post_option",
    "taxCategory": "tax_category",
}


def _account_options(body: dict[str, Any]) -> dict[str, Any]:
    return {attr: body[key] for key, attr in _ACCOUNT_KEYS.items() if key in body}


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/_sim/stats", stats),
    ("POST", "/_sim/stats/reset", stats_reset),
    ("GET", "/_sim/journal", journal),
    ("GET", "/_sim/journal/{number}/attachments", journal_attachments),
    ("GET", "/_sim/config", config),
    ("POST", "/_sim/reset", reset),
    ("POST", "/_sim/accounts", account_add),
    ("PATCH", "/_sim/accounts/{number}", account_patch),
    ("POST", "/_sim/segment-values", segment_value),
    ("POST", "/_sim/periods", period_add),
    ("POST", "/_sim/periods/{periodId}/close", period_close),
    ("POST", "/_sim/periods/{periodId}/open", period_open),
    ("POST", "/_sim/periods/{periodId}/close-supplier-ledger", period_close_ap),
    ("POST", "/_sim/periods/{periodId}/open-supplier-ledger", period_open_ap),
    ("GET", "/_sim/supplier-ledger", supplier_ledger_get),
    ("POST", "/_sim/supplier-ledger", supplier_ledger_set),
    ("GET", "/_sim/supplier-payments", supplier_payments_get),
    ("POST", "/_sim/currency-rates", currency_rate_add),
    ("POST", "/_sim/suppliers", supplier_add),
    ("PATCH", "/_sim/suppliers/{number}", supplier_patch),
    ("POST", "/_sim/vat-codes", vat_code),
    ("POST", "/_sim/credit-terms", credit_term),
    ("GET", "/_sim/faults", faults_get),
    ("POST", "/_sim/faults", faults_set),
    ("POST", "/_sim/rate-limit", rate_limit),
    ("POST", "/_sim/tokens/expire", tokens_expire),
    ("GET", "/_sim/webhooks", webhooks_get),
    ("POST", "/_sim/webhooks", webhooks_set),
]
