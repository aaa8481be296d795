"""Shared helpers for the Visma client's MockTransport tests (no tests here).

``FakeVisma`` answers the token endpoint and canned API routes; each route is a queue of
responses, exceptions or callables (the last entry repeats), and every request is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx2

from ml_connector import retry
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.domain.journal import Segment, Voucher, VoucherLine

SECRET = "s3cr3t-client-secret-value"
API = "https://api.test"
TOKEN_URL = "https://auth.test/connect/token"

Entry = httpx2.Response | BaseException | Callable[[httpx2.Request], httpx2.Response]


def settings(**kw: Any) -> VismaSettings:
    base: dict[str, Any] = {
        "client_id": "ml-connector-test",
        "client_secret": SECRET,
        "tenant_id": "tenant-guid",
        "company_id": "1234567",
        "api_url": API,
        "token_url": TOKEN_URL,
    }
    base.update(kw)
    return VismaSettings(**base)


def json_response(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx2.Response:
    content = b"" if body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    return httpx2.Response(status, content=content, headers=hdrs)


# What a create may answer when its outcome is unknown: each must be reported ambiguous and never
# resent (every create target's tests run over these).
def ambiguous_create_answers() -> list[object]:
    return [
        json_response(500, {"message": "Internal error"}),
        httpx2.ReadTimeout("read timed out"),
        json_response(201),  # created, but no Location: number unknown
    ]


class FakeVisma:
    def __init__(self, *, expires_in: int = 3600) -> None:
        self.requests: list[httpx2.Request] = []
        self.token_requests: list[dict[str, list[str]]] = []
        self.routes: dict[tuple[str, str], list[Entry]] = {}
        self.expires_in = expires_in
        self.token_queue: list[Entry] = []
        self.issued = 0

    def route(self, method: str, path: str, *entries: Entry) -> None:
        self.routes[(method, path)] = list(entries)

    def api_requests(self, method: str | None = None, path: str | None = None) -> list[httpx2.Request]:
        return [
            r
            for r in self.requests
            if r.url.path != "/connect/token"
            and (method is None or r.method == method)
            and (path is None or r.url.path == path)
        ]

    def _take(self, queue: list[Entry], request: httpx2.Request) -> httpx2.Response:
        entry = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(entry, BaseException):
            raise entry
        if isinstance(entry, httpx2.Response):
            return entry
        return entry(request)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path == "/connect/token":
            self.token_requests.append(parse_qs(request.content.decode()))
            if self.token_queue:
                return self._take(self.token_queue, request)
            self.issued += 1
            return json_response(
                200,
                {"access_token": f"tok-{self.issued}", "token_type": "Bearer", "expires_in": self.expires_in},
            )
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return json_response(404, {"message": f"no route {request.method} {request.url.path}"})
        return self._take(queue, request)

    def client(self, **kw: Any) -> VismaClient:
        client_kw = {k: kw.pop(k) for k in ("budget", "policy", "clock", "token_clock", "tokens") if k in kw}
        return VismaClient(settings(**kw), httpx2.MockTransport(self), **client_kw)


@contextmanager
def fast_retries() -> Iterator[None]:
    retry.set_testing(0.001)
    try:
        yield
    finally:
        retry.set_testing(None)


def voucher(reference: str = "INV-1001", amount: str = "31748.10") -> Voucher:
    from datetime import date

    amt = Decimal(amount)
    return Voucher(
        transaction_date=date(2024, 3, 31),
        financial_period="202403",
        currency="NOK",
        description="Stampli invoice 1001",
        reference=reference,
        lines=(
            VoucherLine(
                account="6800",
                debit=amt,
                credit=Decimal(0),
                reference=reference,
                description="Office supplies",
                subaccount=(Segment(1, "0002"), Segment(2, "00")),
            ),
            VoucherLine(
                account="2400",
                debit=Decimal(0),
                credit=amt,
                reference=reference,
                description="Supplier 50001",
                subaccount=(Segment(1, "0000"), Segment(2, "00")),
            ),
        ),
    )
