"""The Visma.net ERP simulator as an ASGI application (starlette request/response primitives).

Layers, outermost first:

1. ``Simulator.__call__``: buffers the request body, runs the handler, records the exchange for
   observers (contract validation in tests), and performs the *drop after commit* fault by aborting
   the TCP transport before any response byte is written.
2. ``_handle``: token endpoint, ``/_sim/`` test endpoints, or the API pipeline: latency, bearer token,
   rate limit, ``ipp-company-id``, random 5xx, then the resource handler.

All state changes happen under one lock, synchronously, so the app is safe to poke from other threads
through :attr:`Simulator.state`.
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Message, Receive, Scope, Send

from ml_connector.sim.visma import jsonio
from ml_connector.sim.visma.errors import SimHTTPError, bad_request, ipp_exception, not_found
from ml_connector.sim.visma.faults import DEFAULT_RATE_LIMIT, Faults, RateLimit
from ml_connector.sim.visma.seed import build_state
from ml_connector.sim.visma.state import (
    Company,
    VismaState,
    as_decimal,
    etag_of,
    if_match_ok,
    modified_filter,
    page_slice,
    parse_dto_datetime,
    unwrap,
    with_metadata,
)
from ml_connector.sim.visma.webhooks import WebhookSender

SCOPES = (
    "vismanet_erp_service_api:create",
    "vismanet_erp_service_api:delete",
    "vismanet_erp_service_api:read",
    "vismanet_erp_service_api:update",
)
JSON_TYPE = "application/json; charset=utf-8"


# ------------------------------------------------------------------------------------------- plumbing


@dataclass
class SimRequest:
    method: str
    path: str
    query: QueryParams
    headers: Headers
    body: bytes
    path_params: dict[str, str]
    base_url: str

    def json(self) -> Any:
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in {"application/json", "text/json"}:
            raise SimHTTPError(
                415, {"message": f"The simulator accepts application/json bodies, not '{content_type}'."}
            )
        try:
            return jsonio.loads(self.body)
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None

    def q_str(self, name: str) -> str | None:
        value = self.query.get(name)
        return None if value is None or value == "" else value

    def q_int(self, name: str) -> int | None:
        value = self.q_str(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"Query parameter '{name}' must be an integer.") from None

    def q_bool(self, name: str) -> bool | None:
        value = self.q_str(name)
        if value is None:
            return None
        if value.lower() not in {"true", "false"}:
            raise bad_request(f"Query parameter '{name}' must be true or false.")
        return value.lower() == "true"


@dataclass
class SimResponse:
    status: int
    body: Any = None  # JSON-able (Decimal allowed) or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # commit happened; abort the socket instead of answering


@dataclass(frozen=True)
class Exchange:
    """One request and its response as seen on the wire (for contract validation)."""

    method: str
    path: str
    query_string: str
    request_headers: dict[str, str]
    request_body: bytes
    template: str | None
    status: int | None  # None: the connection was dropped without a response
    response_headers: dict[str, str]
    response_body: bytes


Handler = Callable[[SimRequest], SimResponse]
Observer = Callable[[Exchange], None]


@dataclass
class _Route:
    method: str
    template: str
    handler: Handler
    regex: Any = None

    def __post_init__(self) -> None:
        self.regex = compile_path(self.template)[0]


@dataclass
class _Token:
    client_id: str
    tenant_id: str
    expires_at: float
    scope: str


@dataclass
class _Window:
    start: float
    count: int = 0


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, body, dict(headers or {}))


# ------------------------------------------------------------------------------------------ simulator


@dataclass
class SimulatorConfig:
    seed: str = "demo"
    client_id: str = "ml-connector-sim"
    client_secret: str = "sim-secret-change-me"  # noqa: S105  (a simulator credential, printed on start)
    tenant_id: str | None = None
    company_id: str | None = None
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT
    faults: str | None = None
    token_lifetime: int = 3600
    max_page_size: int = 1000
    journal_max_page_size: int = 500


class Simulator:
    """The ASGI application plus its state, stats, tokens, rate limiter and fault settings."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.lock = threading.RLock()
        self.observers: list[Observer] = []
        self.faults = Faults.parse(self.config.faults)
        self.rate_limit = self.config.rate_limit
        self.tokens: dict[str, _Token] = {}
        self.windows: dict[tuple[str, str], _Window] = {}
        self.state = self._new_state(self.config.seed)
        self.requests: Counter[str] = Counter()
        self.statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.rate_limited = 0
        self.dropped = 0
        self.injected_5xx = 0
        self.routes: list[_Route] = []
        self.webhooks = WebhookSender()
        self._register_routes()

    # ------------------------------------------------------------------ setup

    def _new_state(self, seed: str) -> VismaState:
        company = Company()
        if self.config.tenant_id:
            company.tenant_id = self.config.tenant_id
        if self.config.company_id:
            company.company_id = self.config.company_id
        state = build_state(seed, company)
        state.max_page_size = self.config.max_page_size
        state.journal_max_page_size = self.config.journal_max_page_size
        return state

    @property
    def company(self) -> Company:
        return self.state.company

    def _register_routes(self) -> None:
        add = self._add
        add("POST", "/connect/token", self.h_token)
        # API
        add("GET", "/v1/account", self.h_accounts)
        add("GET", "/v1/account/{accountCd}", self.h_account)
        add("GET", "/v1/subaccount", self.h_subaccounts)
        add("GET", "/v1/subaccount/{subAccountNumber}", self.h_subaccount)
        add("GET", "/v1/dimension", self.h_dimensions)
        add("GET", "/v1/dimension/{dimensionId}", self.h_dimension)
        add("GET", "/v1/dimension/{dimensionId}/{segmentId}", self.h_segment)
        add("PUT", "/v1/dimension/{dimensionId}/{segmentId}", self.h_segment_put)
        add("GET", "/v1/dimension/{dimensionId}/{segmentId}/publicid/{publicId}", self.h_segment_value_public)
        add("GET", "/v1/dimension/{dimensionId}/{segmentId}/{valueId}", self.h_segment_value)
        add("GET", "/v1/supplier", self.h_suppliers)
        add("GET", "/v1/supplier/{supplierCd}", self.h_supplier)
        add("GET", "/v1/branch", self.h_branches)
        add("GET", "/v1/branch/{branchNumber}", self.h_branch)
        add("GET", "/v1/ledger", self.h_ledgers)
        add("GET", "/v1/currency", self.h_currencies)
        add("GET", "/v1/currency/{curyId}", self.h_currency)
        add("GET", "/v1/financialPeriod", self.h_periods)
        add("GET", "/v1/financialPeriod/{financialPeriodId}", self.h_period)
        add("GET", "/v1/vat", self.h_vat_codes)
        add("GET", "/v1/creditTerm", self.h_credit_terms)
        add("GET", "/v2/journaltransaction", self.h_journal_list)
        add("POST", "/v2/journaltransaction", self.h_journal_create)
        add("GET", "/v2/journaltransaction/{journalTransactionNumber}", self.h_journal_get)
        add(
            "POST", "/v2/journaltransaction/{journalTransactionNumber}/action/release", self.h_journal_release
        )
        # test endpoints
        add("GET", "/_sim/stats", self.s_stats)
        add("POST", "/_sim/stats/reset", self.s_stats_reset)
        add("GET", "/_sim/journal", self.s_journal)
        add("GET", "/_sim/config", self.s_config)
        add("POST", "/_sim/reset", self.s_reset)
        add("POST", "/_sim/accounts", self.s_account_add)
        add("PATCH", "/_sim/accounts/{number}", self.s_account_patch)
        add("POST", "/_sim/segment-values", self.s_segment_value)
        add("POST", "/_sim/periods", self.s_period_add)
        add("POST", "/_sim/periods/{periodId}/close", self.s_period_close)
        add("POST", "/_sim/periods/{periodId}/open", self.s_period_open)
        add("POST", "/_sim/suppliers", self.s_supplier_add)
        add("PATCH", "/_sim/suppliers/{number}", self.s_supplier_patch)
        add("POST", "/_sim/vat-codes", self.s_vat_code)
        add("POST", "/_sim/credit-terms", self.s_credit_term)
        add("GET", "/_sim/faults", self.s_faults_get)
        add("POST", "/_sim/faults", self.s_faults_set)
        add("POST", "/_sim/rate-limit", self.s_rate_limit)
        add("POST", "/_sim/tokens/expire", self.s_tokens_expire)
        add("GET", "/_sim/webhooks", self.s_webhooks_get)
        add("POST", "/_sim/webhooks", self.s_webhooks_set)

    def _add(self, method: str, template: str, handler: Handler) -> None:
        self.routes.append(_Route(method, template, handler))

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, params, path_known). ``path_known`` with no route means 405."""
        path_known = False
        for route in self.routes:
            match = route.regex.match(path)
            if match is None:
                continue
            path_known = True
            if route.method == method:
                return route, match.groupdict(), True
        return None, {}, path_known

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            chunk: Message = await receive()
            if chunk["type"] == "http.disconnect":
                return
            body += chunk.get("body", b"")
            if not chunk.get("more_body", False):
                break
        headers = Headers(scope=scope)
        method = scope["method"]
        path = scope["path"]
        route, params, path_known = self._match(method, path)
        host = headers.get("host", "127.0.0.1")
        request = SimRequest(
            method=method,
            path=path,
            query=QueryParams(scope.get("query_string", b"")),
            headers=headers,
            body=body,
            path_params=params,
            base_url=f"{scope.get('scheme', 'http')}://{host}",
        )
        result = await self._handle(request, route, path_known)
        template = route.template if route else None
        if result.drop_connection:
            self._notify(request, template, None, {}, b"")
            await self._drop(send)
            return
        payload = b"" if result.body is None else jsonio.dumps(result.body).encode("utf-8")
        out_headers = dict(result.headers)
        if result.body is not None:
            out_headers.setdefault("content-type", JSON_TYPE)
        response = Response(content=payload, status_code=result.status, headers=out_headers)
        self._notify(request, template, result.status, dict(response.headers), payload)
        await response(scope, receive, send)

    def _notify(
        self,
        request: SimRequest,
        template: str | None,
        status: int | None,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        if not self.observers:
            return
        exchange = Exchange(
            method=request.method,
            path=request.path,
            query_string=str(request.query),
            request_headers=dict(request.headers),
            request_body=request.body,
            template=template,
            status=status,
            response_headers=headers,
            response_body=body,
        )
        for observer in list(self.observers):
            observer(exchange)

    async def _drop(self, send: Send) -> None:
        """Abort the TCP connection without writing a response.

        uvicorn answers 500 when an app raises before starting a response, so the app reaches the
        transport through uvicorn's per-request cycle object (``send`` is its bound method) and aborts
        it. Marking the cycle disconnected keeps uvicorn from writing anything afterwards.
        """
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise RuntimeError("drop_after_commit needs uvicorn's h11 or httptools protocol")
        transport.abort()
        cycle.disconnected = True  # type: ignore[union-attr]
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ request pipeline

    async def _handle(self, request: SimRequest, route: _Route | None, path_known: bool) -> SimResponse:
        path = request.path
        key = f"{request.method} {route.template if route else path}"
        is_api = path.startswith(("/v1/", "/v2/")) or path in {"/v1", "/v2"}
        is_token = path == "/connect/token"
        if (is_api or is_token) and self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        with self.lock:
            self.requests[key] += 1
            try:
                if is_api:
                    result = self._api(request, route, path_known)
                elif route is not None:
                    result = route.handler(request)
                elif path_known:
                    result = _json(405, {"message": "The requested resource does not support this method."})
                else:
                    result = _json(404, {"message": f"No resource matches '{path}'."})
            except SimHTTPError as exc:
                result = SimResponse(exc.status, exc.body, dict(exc.headers))
            self.statuses[key][str(result.status)] += 1
            if result.status == 429:
                self.rate_limited += 1
            if result.drop_connection:
                self.dropped += 1
        return result

    def _api(self, request: SimRequest, route: _Route | None, path_known: bool) -> SimResponse:
        token = self._authenticate(request)
        rl_headers = self._rate_limit(token)
        try:
            self._check_company(request)
            if self.faults.take_error():
                self.injected_5xx += 1
                raise SimHTTPError(500, {"message": "An error has occurred."})
            if route is None:
                if path_known:
                    raise SimHTTPError(
                        405, {"message": "The requested resource does not support this method."}
                    )
                raise not_found(f"No HTTP resource was found that matches the request URI '{request.path}'.")
            result = route.handler(request)
        except SimHTTPError as exc:
            exc.headers.update(rl_headers)
            raise
        result.headers.update(rl_headers)
        return result

    def _authenticate(self, request: SimRequest) -> _Token:
        denied = SimHTTPError(
            401,
            {"message": "Authorization has been denied for this request."},
            {"www-authenticate": "Bearer"},
        )
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise denied
        token = self.tokens.get(value.strip())
        if token is None or token.expires_at <= time.monotonic():
            raise denied
        if token.tenant_id != self.company.tenant_id:
            # a customer-tenant token authenticates at Visma Connect but not at the API (D-401)
            raise denied
        return token

    def _rate_limit(self, token: _Token) -> dict[str, str]:
        now = time.monotonic()
        key = (token.client_id, token.tenant_id)
        window = self.windows.get(key)
        if window is None or now - window.start >= self.rate_limit.window:
            window = _Window(start=now)
            self.windows[key] = window
        reset = max(0, math.ceil(window.start + self.rate_limit.window - now))
        headers = {
            "x-ratelimit-limit": str(self.rate_limit.limit),
            "x-ratelimit-policy": "4-fixed-window",
            "x-ratelimit-reset": str(reset),
        }
        if window.count >= self.rate_limit.limit:
            headers["x-ratelimit-remaining"] = "0"
            headers["retry-after"] = str(max(1, reset))
            raise SimHTTPError(
                429,
                {
                    "statusCode": 429,
                    "message": f"Rate limit is exceeded. Try again in {max(1, reset)} seconds.",
                },
                headers,
            )
        window.count += 1
        headers["x-ratelimit-remaining"] = str(self.rate_limit.limit - window.count)
        return headers

    def _check_company(self, request: SimRequest) -> None:
        value = request.headers.get("ipp-company-id")
        if value is None or value.strip() != self.company.company_id:
            raise ipp_exception("12002", "")

    # ------------------------------------------------------------------ token endpoint

    def h_token(self, request: SimRequest) -> SimResponse:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _json(400, {"error": "invalid_request", "error_description": "form-encoded body required"})
        form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return _json(400, {"error": "invalid_client"})
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if client_id != self.config.client_id or client_secret != self.config.client_secret:
            return _json(400, {"error": "invalid_client"})
        tenant = form.get("tenant_id")
        if tenant not in {self.company.tenant_id, self.company.customer_tenant_id}:
            return _json(
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
            return _json(400, {"error": "invalid_scope"})
        scope = " ".join(requested or SCOPES)
        lifetime = float(self.config.token_lifetime)
        actual = self.faults.token_ttl if self.faults.token_ttl is not None else lifetime
        access_token = "sim_" + secrets.token_urlsafe(24)
        self.tokens[access_token] = _Token(client_id, tenant, time.monotonic() + actual, scope)
        return _json(
            200,
            {
                "access_token": access_token,
                "expires_in": self.config.token_lifetime,
                "token_type": "Bearer",
                "scope": scope,
            },
            {"cache-control": "no-store", "pragma": "no-cache"},
        )

    # ------------------------------------------------------------------ accounts

    def h_accounts(self, request: SimRequest) -> SimResponse:
        active = request.q_bool("active")
        greater = request.q_str("greaterThanValue")
        public_code = request.q_str("publicCode")
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        items = [
            a
            for a in sorted(self.state.accounts.values(), key=lambda a: a.number)
            if (active is None or a.active == active)
            and (greater is None or a.number > greater)
            and (public_code is None or a.number == public_code)
            and modified(a.last_modified)
        ]
        total = len(items)
        items = _skip_take(items, request)
        return _json(200, with_metadata([a.dto() for a in items], total, self.state.max_page_size))

    def h_account(self, request: SimRequest) -> SimResponse:
        number = request.path_params["accountCd"]
        account = self.state.accounts.get(number)
        if account is None:
            raise not_found(f"Account {number} not found.")
        return _json(200, account.dto(), {"etag": etag_of(account.version)})

    # ------------------------------------------------------------------ subaccounts and dimension

    def h_subaccounts(self, request: SimRequest) -> SimResponse:
        active = request.q_bool("active")
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        subs = [
            s
            for s in sorted(self.state.subaccounts.values(), key=lambda s: s.number)
            if (active is None or s.active == active) and modified(s.last_modified)
        ]
        page = page_slice(
            subs, request.q_int("pageNumber"), request.q_int("pageSize"), self.state.max_page_size
        )
        dtos = [self.state.subaccount_dto(s) for s in page]
        return _json(200, with_metadata(dtos, len(subs), self.state.max_page_size))

    def h_subaccount(self, request: SimRequest) -> SimResponse:
        number = request.path_params["subAccountNumber"]
        for sub in self.state.subaccounts.values():
            if number in {sub.number, "".join(sub.values)}:
                return _json(200, self.state.subaccount_dto(sub), {"etag": etag_of(sub.version)})
        raise not_found(f"Subaccount {number} not found.")

    def h_dimensions(self, request: SimRequest) -> SimResponse:
        return _json(200, [self.state.dimension_id])

    def _dimension(self, request: SimRequest) -> None:
        dimension = request.path_params["dimensionId"]
        if dimension != self.state.dimension_id:
            raise not_found(f"Dimension {dimension} not found.")

    def _segment_of(self, request: SimRequest) -> Any:
        self._dimension(request)
        raw = request.path_params["segmentId"]
        segment = self.state.segments.get(int(raw)) if raw.isdigit() else None
        if segment is None:
            raise not_found(f"Segment {raw} of {self.state.dimension_id} not found.")
        return segment

    def h_dimension(self, request: SimRequest) -> SimResponse:
        self._dimension(request)
        expand = request.q_bool("expandSegmentsValues")
        greater = request.q_str("greaterThanValue")
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        segments = []
        for segment in (self.state.segments[k] for k in sorted(self.state.segments)):
            values = [
                v
                for v in segment.values.values()
                if (greater is None or v.value_id > greater) and modified(v.last_modified)
            ]
            dto = segment.dto(values)
            if expand is False:
                dto.pop("segmentValues")
            segments.append(dto)
        length = sum(s.length for s in self.state.segments.values())
        return _json(
            200,
            {
                "id": self.state.dimension_id,
                "length": length,
                "description": self.state.dimension_description,
                "segments": segments,
            },
        )

    def h_segment(self, request: SimRequest) -> SimResponse:
        segment = self._segment_of(request)
        return _json(200, segment.dto(), {"etag": etag_of(segment.version)})

    def h_segment_put(self, request: SimRequest) -> SimResponse:
        segment = self._segment_of(request)
        if not if_match_ok(request.headers.get("if-match"), segment.version):
            raise SimHTTPError(412, None)
        body = request.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a DtoSegmentUpdateDto object.")
        description = unwrap(body, "description")
        if isinstance(description, str):
            segment.description = description
        for item in body.get("segmentValues") or []:
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise bad_request("Each segment value needs a string 'value'.")
            operation = item.get("operation", "Insert")
            value_id = item["value"]
            existing = segment.values.get(value_id)
            if operation == "Delete":
                if existing is None:
                    raise bad_request(f"Segment value '{value_id}' does not exist.")
                del segment.values[value_id]
                continue
            if operation == "Insert" and existing is not None:
                raise bad_request(f"Segment value '{value_id}' already exists.")
            if operation == "Update" and existing is None:
                raise bad_request(f"Segment value '{value_id}' does not exist.")
            desc = unwrap(item, "description")
            active = unwrap(item, "active")
            self.state.add_segment_value(
                segment.segment_id,
                value_id,
                desc if isinstance(desc, str) else (existing.description if existing else value_id),
                active if isinstance(active, bool) else (existing.active if existing else True),
            )
        segment.version = self.state.next_version()
        segment.last_modified = self.state.clock.now()
        self._notify_webhook(
            "segment",
            "Segment.Changed",
            {"dimensionId": request.path_params["dimensionId"], "segmentId": segment.segment_id},
        )
        return SimResponse(204, None, {"etag": etag_of(segment.version)})

    def h_segment_value(self, request: SimRequest) -> SimResponse:
        segment = self._segment_of(request)
        raw = request.path_params["valueId"]
        try:
            value_id = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
        except ValueError:
            raise bad_request("valueId must be Base64-encoded.") from None
        value = segment.values.get(value_id)
        if value is None:
            raise not_found(f"Segment value '{value_id}' not found.")
        return _json(200, value.dto(), {"etag": etag_of(value.version)})

    def h_segment_value_public(self, request: SimRequest) -> SimResponse:
        segment = self._segment_of(request)
        public_id = request.path_params["publicId"]
        for value in segment.values.values():
            if value.public_id == public_id:
                return _json(200, value.dto(), {"etag": etag_of(value.version)})
        raise not_found(f"Segment value with publicId {public_id} not found.")

    # ------------------------------------------------------------------ suppliers

    def h_suppliers(self, request: SimRequest) -> SimResponse:
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
            for s in sorted(self.state.suppliers.values(), key=lambda s: s.number)
            if (greater is None or s.number > greater)
            and (name is None or name.lower() in str(s.fields.get("name", "")).lower())
            and (status is None or s.fields.get("status") == status)
            and (vat is None or s.fields.get("vatRegistrationId") == vat)
            and (corporate is None or s.fields.get("corporateId") == corporate)
            and modified(s.last_modified)
        ]
        page = page_slice(
            items, request.q_int("pageNumber"), request.q_int("pageSize"), self.state.max_page_size
        )
        expand = request.q_bool("expandAccountInformation")
        dtos = []
        for supplier in page:
            dto = supplier.dto()
            if not expand:
                dto.pop("glAccounts", None)
            dtos.append(dto)
        return _json(200, with_metadata(dtos, len(items), self.state.max_page_size))

    def h_supplier(self, request: SimRequest) -> SimResponse:
        number = request.path_params["supplierCd"]
        supplier = self.state.suppliers.get(number)
        if supplier is None:
            raise not_found(f"Supplier {number} not found.")
        return _json(200, supplier.dto(), {"etag": etag_of(supplier.version)})

    # ------------------------------------------------------------------ branch, ledger, currency, period

    def h_branches(self, request: SimRequest) -> SimResponse:
        greater = request.q_str("greaterThanValue")
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        items = [
            b
            for b in sorted(self.state.branches.values(), key=lambda b: b.number)
            if (greater is None or b.number > greater) and modified(b.last_modified)
        ]
        dtos = [self.state.branch_dto(b) for b in items]
        return _json(200, dtos)

    def h_branch(self, request: SimRequest) -> SimResponse:
        number = request.path_params["branchNumber"]
        branch = self.state.branches.get(number)
        if branch is None:
            raise not_found(f"Branch {number} not found.")
        return _json(200, self.state.branch_dto(branch))

    def h_ledgers(self, request: SimRequest) -> SimResponse:
        greater = request.q_str("greaterThanValue")
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        items = [
            ledger
            for ledger in sorted(self.state.ledgers.values(), key=lambda x: x.number)
            if (greater is None or ledger.number > greater) and modified(ledger.last_modified)
        ]
        items = _skip_take(items, request)
        return _json(200, [ledger.dto() for ledger in items])

    def h_currencies(self, request: SimRequest) -> SimResponse:
        return _json(200, [c.dto() for c in sorted(self.state.currencies.values(), key=lambda c: c.id)])

    def h_currency(self, request: SimRequest) -> SimResponse:
        currency = self.state.currencies.get(request.path_params["curyId"])
        if currency is None:
            raise not_found(f"Currency {request.path_params['curyId']} not found.")
        return _json(200, currency.dto())

    def h_periods(self, request: SimRequest) -> SimResponse:
        greater = request.q_str("greaterThanValue")
        items = []
        for fp in sorted(self.state.periods.values(), key=lambda p: p.period_id):
            if greater is not None:
                key = fp.period_id if len(greater) == 6 else str(fp.year)
                if not key > greater:
                    continue
            items.append(fp.dto())
        return _json(200, items)

    def h_period(self, request: SimRequest) -> SimResponse:
        fp = self.state.periods.get(request.path_params["financialPeriodId"])
        if fp is None:
            raise not_found(f"Financial period {request.path_params['financialPeriodId']} not found.")
        return _json(200, fp.dto())

    # ------------------------------------------------------------------ VAT codes and credit terms

    def h_vat_codes(self, request: SimRequest) -> SimResponse:
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        codes = sorted(self.state.vat_codes.values(), key=lambda v: v.vat_id)
        return _json(200, [v.dto() for v in codes if modified(v.last_modified)])

    def h_credit_terms(self, request: SimRequest) -> SimResponse:
        """A paging envelope ``{pageNumber, pageSize, totalCount, records}`` (BasePaginationDto)."""
        modified = modified_filter(
            request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
        )
        terms_id = request.q_str("termsId")
        items = [
            t
            for t in sorted(self.state.credit_terms.values(), key=lambda t: t.terms_id)
            if (terms_id is None or t.terms_id == terms_id) and modified(t.last_modified)
        ]
        number = request.q_int("pageNumber") or 1
        size = min(request.q_int("pageSize") or self.state.max_page_size, self.state.max_page_size)
        page = page_slice(items, number, size, self.state.max_page_size)
        return _json(
            200,
            {
                "pageNumber": number,
                "pageSize": size,
                "totalCount": len(items),
                "records": [t.dto() for t in page],
            },
        )

    # ------------------------------------------------------------------ journal transactions

    def h_journal_list(self, request: SimRequest) -> SimResponse:
        body = self.state.list_journal(
            period_id=request.q_str("periodId"),
            last_modified=request.q_str("lastModifiedDateTime"),
            status=request.q_str("status"),
            branch=request.q_str("branch"),
            module=request.q_str("module"),
            page_number=request.q_int("pageNumber"),
            page_size=request.q_int("pageSize"),
            total_counts_batches=self.faults.total_count == "batches",
        )
        return _json(200, body)

    def h_journal_create(self, request: SimRequest) -> SimResponse:
        batch = self.state.create_journal(request.json())
        headers = {
            "location": f"{request.base_url}/v2/journaltransaction/{batch.batch_number}",
            "etag": etag_of(batch.version),
        }
        if self.faults.no_location:
            del headers["location"]
        return SimResponse(201, None, headers, drop_connection=self.faults.take_drop())

    def h_journal_get(self, request: SimRequest) -> SimResponse:
        batch = self.state.get_journal(request.path_params["journalTransactionNumber"])
        return _json(200, self.state.journal_dto(batch), {"etag": etag_of(batch.version)})

    def h_journal_release(self, request: SimRequest) -> SimResponse:
        number = request.path_params["journalTransactionNumber"]
        batch = self.state.release_journal(number, request.headers.get("if-match"))
        return _json(
            200,
            {"actionId": secrets.token_hex(8), "actionResult": "Done"},
            {"etag": etag_of(batch.version)},
        )

    # ------------------------------------------------------------------ /_sim/ test endpoints

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "api_url": base_url,
            "token_url": f"{base_url}/connect/token",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "tenant_id": self.company.tenant_id,
            "customer_tenant_id": self.company.customer_tenant_id,
            "company_id": self.company.company_id,
            "company_name": self.company.name,
            "seed": self.config.seed,
            "rate_limit": self.rate_limit.describe(),
            "faults": self.faults.describe(),
            "scopes": list(SCOPES),
        }

    def s_config(self, request: SimRequest) -> SimResponse:
        return _json(200, self.describe(request.base_url))

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "statuses": {k: dict(v) for k, v in sorted(self.statuses.items())},
            "rate_limited": self.rate_limited,
            "dropped_after_commit": self.dropped,
            "injected_5xx": self.injected_5xx,
            "total": sum(self.requests.values()),
        }

    def s_stats(self, request: SimRequest) -> SimResponse:
        return _json(200, self.stats())

    def reset_stats(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.rate_limited = 0
        self.dropped = 0
        self.injected_5xx = 0

    def s_stats_reset(self, request: SimRequest) -> SimResponse:
        self.reset_stats()
        return _json(200, self.stats())

    def s_journal(self, request: SimRequest) -> SimResponse:
        return _json(200, self.state.journal_snapshot())

    def s_reset(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        seed = body.get("seed", self.config.seed)
        if not isinstance(seed, str):
            raise bad_request("seed must be a string")
        try:
            self.state = self._new_state(seed)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        self.faults = Faults.parse(self.config.faults)
        self.windows.clear()
        self.reset_stats()
        return _json(200, {"seed": seed})

    def s_account_add(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        try:
            account = self.state.add_account(
                str(body["number"]),
                str(body.get("description", body["number"])),
                str(body.get("type", "Expense")),
                str(body.get("accountClass", "OTHER")),
                **_account_options(body),
            )
        except KeyError:
            raise bad_request("'number' is required") from None
        self._notify_webhook("account", "Account.Created", {"accountCd": account.number})
        return _json(201, account.dto())

    def s_account_patch(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        changes = _account_options(body)
        if "description" in body:
            changes["description"] = str(body["description"])
        account = self.state.update_account(request.path_params["number"], **changes)
        self._notify_webhook("account", "Account.Changed", {"accountCd": account.number})
        return _json(200, account.dto())

    def s_segment_value(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        try:
            segment_id = int(body["segmentId"])
            value_id = str(body["valueId"])
        except (KeyError, ValueError, TypeError):
            raise bad_request("'segmentId' (int) and 'valueId' (str) are required") from None
        value = self.state.add_segment_value(
            segment_id, value_id, str(body.get("description", value_id)), bool(body.get("active", True))
        )
        self._notify_webhook(
            "segmentValue",
            "SegmentValue.Changed",
            {"dimensionId": "SUBACCOUNT", "segmentId": segment_id, "valueId": value_id},
        )
        return _json(201, value.dto())

    def s_period_add(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        try:
            year, period = int(body["year"]), int(body["period"])
        except (KeyError, ValueError, TypeError):
            raise bad_request("'year' and 'period' (1-12) are required") from None
        if not 1 <= period <= 12:
            raise bad_request("period must be 1-12")
        self.state.add_period(
            year, period, closed_in_gl=bool(body.get("closed", False)), active=bool(body.get("active", True))
        )
        return _json(201, self.state.periods[f"{year:04d}{period:02d}"].dto())

    def s_period_close(self, request: SimRequest) -> SimResponse:
        return _json(200, self.state.set_period_closed(request.path_params["periodId"], True).dto())

    def s_period_open(self, request: SimRequest) -> SimResponse:
        return _json(200, self.state.set_period_closed(request.path_params["periodId"], False).dto())

    def s_supplier_add(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        number = body.pop("number", None)
        if not isinstance(number, str) or not number:
            raise bad_request("'number' (string) is required")
        body.setdefault("status", "Active")
        supplier = self.state.add_supplier(number, body)
        self._notify_webhook("supplier", "Supplier.Created", {"supplierCd": number})
        return _json(201, supplier.dto())

    def s_supplier_patch(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        body.pop("number", None)
        supplier = self.state.modify_supplier(request.path_params["number"], body)
        self._notify_webhook("supplier", "Supplier.Updated", {"supplierCd": request.path_params["number"]})
        return _json(200, supplier.dto())

    def s_vat_code(self, request: SimRequest) -> SimResponse:
        """Create or change a VAT id: ``{"vatId", "description"?, "type"?, "rate"?, "notValidAfter"?}``."""
        body = _sim_body(request)
        vat_id = body.get("vatId")
        if not isinstance(vat_id, str) or not vat_id:
            raise bad_request("'vatId' (string) is required")
        fields: dict[str, Any] = {}
        for key, name in (("description", "description"), ("type", "type")):
            if isinstance(body.get(key), str):
                fields[name] = body[key]
        if "rate" in body:
            fields["rate"] = as_decimal(body["rate"], "rate")
        if "notValidAfter" in body:
            raw = body["notValidAfter"]
            fields["not_valid_after"] = None if raw is None else parse_dto_datetime(str(raw), "notValidAfter")
        return _json(201, self.state.set_vat_code(vat_id, **fields).dto())

    def s_credit_term(self, request: SimRequest) -> SimResponse:
        """Create or change a credit term: ``{"termsId", "description"?, "dueDays"?, "visibleTo"?}``."""
        body = _sim_body(request)
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
        return _json(201, self.state.set_credit_term(terms_id, **fields).dto())

    def s_faults_get(self, request: SimRequest) -> SimResponse:
        return _json(200, self.faults.describe())

    def s_faults_set(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        if body.get("reset"):
            self.faults = Faults()
        spec = body.get("spec")
        if spec is not None and not isinstance(spec, str):
            raise bad_request("'spec' must be a string")
        try:
            self.faults.update(spec)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return _json(200, self.faults.describe())

    def s_rate_limit(self, request: SimRequest) -> SimResponse:
        body = _sim_body(request)
        spec = body.get("spec")
        if not isinstance(spec, str):
            raise bad_request("'spec' (N/SECONDS) is required")
        try:
            self.rate_limit = RateLimit.parse(spec)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        self.windows.clear()
        return _json(200, {"rate_limit": self.rate_limit.describe()})

    def _notify_webhook(self, entity: str, event: str, keys: dict[str, Any]) -> None:
        """A signed notice to the configured webhook URL (sent after this change is committed)."""
        self.webhooks.notify(self.company.tenant_id, self.company.company_id, entity, event, keys)

    def s_webhooks_get(self, request: SimRequest) -> SimResponse:
        return _json(200, self.webhooks.describe())

    def s_webhooks_set(self, request: SimRequest) -> SimResponse:
        try:
            return _json(200, self.webhooks.configure(_sim_body(request)))
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def s_tokens_expire(self, request: SimRequest) -> SimResponse:
        count = len(self.tokens)
        for token in self.tokens.values():
            token.expires_at = 0.0
        return _json(200, {"expired": count})


def _sim_body(request: SimRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    body = request.json()
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    return body


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


def _skip_take(items: list[Any], request: SimRequest) -> list[Any]:
    """The deprecated ``skipRecords``/``numberToRead`` of the non-paged list endpoints."""
    skip = request.q_int("skipRecords") or 0
    take = request.q_int("numberToRead")
    items = items[skip:]
    return items if take is None else items[:take]


__all__ = ["Exchange", "Simulator", "SimulatorConfig"]
