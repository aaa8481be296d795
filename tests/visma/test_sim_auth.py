"""Simulator: token endpoint, bearer/tenant/ipp-company-id enforcement, token expiry."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx2

from tests.support.visma_sim import VismaSim


def _token_form(sim: VismaSim, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "tenant_id": sim.tenant_id,
        "scope": "vismanet_erp_service_api:read vismanet_erp_service_api:create",
    }
    form.update(overrides)
    return form


def test_token_endpoint_issues_bearer_token(visma_sim: VismaSim) -> None:
    response = visma_sim.http.post("/connect/token", data=_token_form(visma_sim))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "vismanet_erp_service_api:read vismanet_erp_service_api:create"
    assert body["access_token"]
    assert visma_sim.token_url == f"{visma_sim.api_url}/connect/token"


def test_token_endpoint_rejects_bad_client_tenant_and_grant(visma_sim: VismaSim) -> None:
    post = visma_sim.http.post
    bad_secret = post("/connect/token", data=_token_form(visma_sim, client_secret="wrong"))
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (400, "invalid_client")
    bad_tenant = post("/connect/token", data=_token_form(visma_sim, tenant_id="00000000-0000-0000-0000-0"))
    assert (bad_tenant.status_code, bad_tenant.json()["error"]) == (400, "invalid_tenant")
    bad_grant = post("/connect/token", data=_token_form(visma_sim, grant_type="password"))
    assert (bad_grant.status_code, bad_grant.json()["error"]) == (400, "unsupported_grant_type")
    bad_scope = post("/connect/token", data=_token_form(visma_sim, scope="admin"))
    assert bad_scope.json()["error"] == "invalid_scope"


def test_basic_auth_client_credentials_are_accepted(visma_sim: VismaSim) -> None:
    form = _token_form(visma_sim)
    del form["client_id"], form["client_secret"]
    response = visma_sim.http.post(
        "/connect/token", data=form, auth=(visma_sim.client_id, visma_sim.client_secret)
    )
    assert response.status_code == 200


def test_api_requires_a_valid_bearer_token(visma_sim: VismaSim) -> None:
    company = {"ipp-company-id": visma_sim.company_id}
    missing = visma_sim.http.get("/v1/account", headers=company)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = visma_sim.http.get("/v1/account", headers={**company, "Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    good = visma_sim.http.get("/v1/account", headers=visma_sim.api_headers())
    assert good.status_code == 200


def test_customer_tenant_token_is_issued_but_refused_by_the_api(visma_sim: VismaSim) -> None:
    token = visma_sim.token(tenant_id=visma_sim.customer_tenant_id)
    response = visma_sim.http.get("/v1/account", headers=visma_sim.api_headers(token))
    assert response.status_code == 401


def test_ipp_company_id_missing_or_wrong_gives_ipp_exception_12002(visma_sim: VismaSim) -> None:
    token = visma_sim.token()
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {**visma_sim.api_headers(token), "ipp-company-id": "999"},
    ):
        response = visma_sim.http.get("/v1/account", headers=headers)
        assert response.status_code == 400
        body = response.json()
        assert body["ExceptionType"] == "IPPException"
        assert body["ExceptionFaultCode"] == "12002"
        assert body["ExceptionMessageID"].startswith("12002_")


def test_token_ttl_fault_expires_tokens_early(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(faults="token_ttl=300ms")
    token_response = sim.http.post("/connect/token", data=_token_form(sim))
    assert token_response.json()["expires_in"] == 3600  # the lie the client has to survive
    headers = sim.api_headers(token_response.json()["access_token"])
    assert sim.http.get("/v1/ledger", headers=headers).status_code == 200
    time.sleep(0.35)
    assert sim.http.get("/v1/ledger", headers=headers).status_code == 401


def test_expire_tokens_endpoint(visma_sim: VismaSim) -> None:
    with visma_sim.api_client() as client:
        assert client.get("/v1/currency").status_code == 200
        assert visma_sim.expire_tokens() >= 1
        assert client.get("/v1/currency").status_code == 401


def test_undeclared_method_is_405_and_flagged_by_the_contract_check(visma_sim: VismaSim) -> None:
    with httpx2.Client(base_url=visma_sim.api_url, headers=visma_sim.api_headers()) as client:
        response = client.delete("/v2/journaltransaction")
    assert response.status_code == 405
    assert "message" in response.json()
    # DELETE is not in our contract: the contract check must notice (and we take the finding here)
    assert [v.kind for v in visma_sim.take_violations()] == ["unknown-path"]
