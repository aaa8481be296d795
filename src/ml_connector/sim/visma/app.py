"""The Visma.net ERP simulator as an ASGI application (starlette request/response primitives).

Layers, outermost first:

1. ``Simulator.__call__``: buffers the request body, runs the handler, records the exchange for
   observers (contract validation in tests), and performs the *drop after commit* fault by aborting
   the TCP transport before any response byte is written.
2. ``_handle``: token endpoint, ``/_sim/`` test endpoints, or the API pipeline: latency, bearer token
   (``auth.py``), rate limit (``ratelimit.py``), ``ipp-company-id``, random 5xx, then the resource
   handler.

Where the rest lives: ``http.py`` (request/response records, route entry), ``routes/`` (one module
per API resource: accounts, dimensions, suppliers, organisation, currencies, periods, terms, journal,
supplier_invoices, supplier_payments;
a new resource is a new module listed in ``routes/__init__.py``), ``control.py`` (``/_sim/``),
``supplier_ledger.py`` (the AP module's state), ``supplier_payments.py`` (payments applied to it).

All state changes happen under one lock, synchronously, so the app is safe to poke from other threads
through :attr:`Simulator.state`.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ml_connector.sim.visma import auth, control, jsonio, ratelimit
from ml_connector.sim.visma.currency_rates import CurrencyRates
from ml_connector.sim.visma.errors import SimHTTPError, ipp_exception, not_found
from ml_connector.sim.visma.faults import DEFAULT_RATE_LIMIT, Faults, RateLimit
from ml_connector.sim.visma.http import (
    JSON_TYPE,
    Exchange,
    Handler,
    Observer,
    Route,
    SimRequest,
    SimResponse,
    json_response,
)
from ml_connector.sim.visma.routes import API_ROUTES
from ml_connector.sim.visma.seed import build_state
from ml_connector.sim.visma.state import Company, VismaState
from ml_connector.sim.visma.supplier_ledger import SupplierLedger
from ml_connector.sim.visma.supplier_payments import SupplierPayments
from ml_connector.sim.visma.webhooks import WebhookSender

SCOPES = auth.SCOPES


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
        self.tokens: dict[str, auth.Token] = {}
        self.windows: dict[tuple[str, str], ratelimit.Window] = {}
        self.state = self.new_state(self.config.seed)
        self.requests: Counter[str] = Counter()
        self.statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.rate_limited = 0
        self.dropped = 0
        self.injected_5xx = 0
        self.routes: list[Route] = []
        self.webhooks = WebhookSender()
        self._ledger: SupplierLedger | None = None
        self._payments: SupplierPayments | None = None
        self._rates: CurrencyRates | None = None
        self._register_routes()

    # ------------------------------------------------------------------ setup

    def new_state(self, seed: str) -> VismaState:
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

    @property
    def supplier_ledger(self) -> SupplierLedger:
        """The supplier ledger of the current state (a new state, e.g. after a reset, starts empty)."""
        if self._ledger is None or self._ledger.state is not self.state:
            self._ledger = SupplierLedger(self.state)
        return self._ledger

    @property
    def supplier_payments(self) -> SupplierPayments:
        """The payments applied to the current supplier ledger's documents (a new ledger, a new set)."""
        ledger = self.supplier_ledger
        if self._payments is None or self._payments.ledger is not ledger:
            self._payments = SupplierPayments(ledger, rate_on=self.currency_rates.on)
        return self._payments

    @property
    def currency_rates(self) -> CurrencyRates:
        """The current state's currency rates (a new state starts from its currencies' seeded rates)."""
        if self._rates is None or self._rates.state is not self.state:
            self._rates = CurrencyRates(self.state)
        return self._rates

    def _register_routes(self) -> None:
        self._add("POST", "/connect/token", functools.partial(auth.issue_token, self))
        for method, template, handler in [*API_ROUTES, *control.ROUTES]:
            self._add(method, template, functools.partial(handler, self))

    def _add(self, method: str, template: str, handler: Handler) -> None:
        self.routes.append(Route(method, template, handler))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
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

    async def _handle(self, request: SimRequest, route: Route | None, path_known: bool) -> SimResponse:
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
                    result = json_response(
                        405, {"message": "The requested resource does not support this method."}
                    )
                else:
                    result = json_response(404, {"message": f"No resource matches '{path}'."})
            except SimHTTPError as exc:
                result = SimResponse(exc.status, exc.body, dict(exc.headers))
            self.statuses[key][str(result.status)] += 1
            if result.status == 429:
                self.rate_limited += 1
            if result.drop_connection:
                self.dropped += 1
        return result

    def _api(self, request: SimRequest, route: Route | None, path_known: bool) -> SimResponse:
        token = auth.authenticate(self, request)
        rl_headers = ratelimit.count_call(self, token)
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

    def _check_company(self, request: SimRequest) -> None:
        value = request.headers.get("ipp-company-id")
        if value is None or value.strip() != self.company.company_id:
            raise ipp_exception("12002", "")

    # ------------------------------------------------------------------ shared with the handlers

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

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "statuses": {k: dict(v) for k, v in sorted(self.statuses.items())},
            "rate_limited": self.rate_limited,
            "dropped_after_commit": self.dropped,
            "injected_5xx": self.injected_5xx,
            "total": sum(self.requests.values()),
        }

    def reset_stats(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.rate_limited = 0
        self.dropped = 0
        self.injected_5xx = 0

    def notify_webhook(self, entity: str, event: str, keys: dict[str, Any]) -> None:
        """A signed notice to the configured webhook URL (sent after this change is committed)."""
        self.webhooks.notify(self.company.tenant_id, self.company.company_id, entity, event, keys)


__all__ = ["Exchange", "Simulator", "SimulatorConfig"]
