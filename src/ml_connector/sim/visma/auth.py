"""Visma Connect's token endpoint (client credentials) and the bearer check every API call passes."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ml_connector.sim.visma.errors import SimHTTPError
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator

SCOPES = (
    "vismanet_erp_service_api:create",
    "vismanet_erp_service_api:delete",
    "vismanet_erp_service_api:read",
    "vismanet_erp_service_api:update",
)


@dataclass
class Token:
    client_id: str
    tenant_id: str
    expires_at: float
    scope: str


def issue_token(sim: Simulator, request: SimRequest) -> SimResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return json_response(
            400, {"error": "invalid_request", "error_description": "form-encoded body required"}
        )
    form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    client_id = form.get("client_id")
    client_secret = form.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return json_response(400, {"error": "invalid_client"})
        client_id, _, client_secret = decoded.partition(":")
    if form.get("grant_type") != "client_credentials":
        return json_response(400, {"error": "unsupported_grant_type"})
    if client_id != sim.config.client_id or client_secret != sim.config.client_secret:
        return json_response(400, {"error": "invalid_client"})
    tenant = form.get("tenant_id")
    if tenant not in {sim.company.tenant_id, sim.company.customer_tenant_id}:
        return json_response(
            400,
            {
                "error": "invalid_tenant",
                "error_description": (
                    "The application user or subscription is not entititled to use the API"
                ),
            },
        )
    requested = form.get("scope", "").split()
    unknown = [s for s in requested if s not in SCOPES]
    if unknown:
        return json_response(400, {"error": "invalid_scope"})
    scope = " ".join(requested or SCOPES)
    lifetime = float(sim.config.token_lifetime)
    actual = sim.faults.token_ttl if sim.faults.token_ttl is not None else lifetime
    access_token = "sim_" + secrets.token_urlsafe(24)
    sim.tokens[access_token] = Token(client_id, tenant, time.monotonic() + actual, scope)
    return json_response(
        200,
        {
            "access_token": access_token,
            "expires_in": sim.config.token_lifetime,
            "token_type": "Bearer",
            "scope": scope,
        },
        {"cache-control": "no-store", "pragma": "no-cache"},
    )


def authenticate(sim: Simulator, request: SimRequest) -> Token:
    denied = SimHTTPError(
        401,
        {"message": "Authorization has been denied for this request."},
        {"www-authenticate": "Bearer"},
    )
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise denied
    token = sim.tokens.get(value.strip())
    if token is None or token.expires_at <= time.monotonic():
        raise denied
    if token.tenant_id != sim.company.tenant_id:
        # a customer-tenant token authenticates at Visma Connect but not at the API (D-401)
        raise denied
    return token
