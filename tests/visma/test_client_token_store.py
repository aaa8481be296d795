"""A TokenStore: one token per process and Visma client identity, reused by client after client
(the scaled-out workers build a client per job), renewed before expiry, never across companies."""

from __future__ import annotations

import asyncio

from ml_connector.adapters.visma.auth import TokenStore
from tests.visma.test_client_auth import ACCOUNTS, FakeClock
from tests.visma.test_client_support import SECRET, FakeVisma, json_response


async def test_clients_of_one_identity_share_one_token_across_their_lives() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    store = TokenStore()
    for _ in range(5):  # five jobs, each with its own client (and HTTP connection), one after another
        async with fake.client(tokens=store) as c:
            await c.accounts()
    assert len(fake.token_requests) == 1
    assert {r.headers["authorization"] for r in fake.api_requests()} == {"Bearer tok-1"}
    assert len(store) == 1


async def test_concurrent_clients_fetch_once() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    store = TokenStore()
    clients = [fake.client(tokens=store) for _ in range(4)]
    await asyncio.gather(*(c.accounts() for c in clients))
    for c in clients:
        await c.aclose()
    assert len(fake.token_requests) == 1


async def test_without_a_store_each_client_fetches_its_own() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    for _ in range(2):
        async with fake.client() as c:
            await c.accounts()
    assert len(fake.token_requests) == 2


async def test_never_shared_across_companies_tenants_clients_or_secrets() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    store = TokenStore()
    variants: list[dict[str, str]] = [
        {},
        {"company_id": "7654321"},
        {"tenant_id": "other-tenant"},
        {"client_id": "other-client"},
        {"client_secret": SECRET + "-rotated"},
    ]
    for kw in variants:
        async with fake.client(tokens=store, **kw) as c:
            await c.accounts()
    assert len(fake.token_requests) == len(variants)
    assert len(store) == len(variants)
    assert SECRET not in repr(store)


async def test_a_shared_token_is_renewed_before_expiry_and_after_a_401() -> None:
    fake = FakeVisma(expires_in=3600)
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    clock = FakeClock()
    store = TokenStore()
    async with fake.client(tokens=store, token_clock=clock) as c:
        await c.accounts()
    clock.now += 3600 - 59  # inside the leeway: the next client renews before use
    async with fake.client(tokens=store, token_clock=clock) as c:
        await c.accounts()
    assert len(fake.token_requests) == 2
    fake.route("GET", "/v1/account", json_response(401, {"message": "expired"}), json_response(200, ACCOUNTS))
    async with fake.client(tokens=store, token_clock=clock) as c:
        await c.accounts()  # refused: renewed once, for every later client of the store too
    async with fake.client(tokens=store, token_clock=clock) as c:
        await c.accounts()
    assert len(fake.token_requests) == 3
    assert [r.headers["authorization"] for r in fake.api_requests()][-2:] == ["Bearer tok-3", "Bearer tok-3"]
