"""Token: form request, caching, renewal before expiry, once on 401; headers on every call; secrets."""

from __future__ import annotations

import httpx2
import pytest

from ml_connector.adapters.visma.settings import SERVICE_SCOPES
from ml_connector.errors import (
    ConfigError,
    FatalDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from tests.visma.test_client_support import SECRET, FakeVisma, fast_retries, json_response, settings

ACCOUNTS = [
    {
        "accountCD": "1920",
        "description": "Bank",
        "type": "Asset",
        "active": True,
        "allowManualEntry": True,
        "metadata": {"totalCount": 1, "maxPageSize": 1000},
    }
]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_request_is_a_form_post_with_tenant_and_scopes() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    async with fake.client() as c:
        await c.accounts()
    assert len(fake.token_requests) == 1
    form = fake.token_requests[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_id"] == ["ml-connector-test"]
    assert form["client_secret"] == [SECRET]
    assert form["tenant_id"] == ["tenant-guid"]
    assert form["scope"] == [" ".join(SERVICE_SCOPES)]
    token_req = fake.requests[0]
    assert token_req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "ipp-company-id" not in token_req.headers  # not an API call


async def test_every_api_call_carries_company_auth_and_json_headers() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    fake.route("POST", "/v2/journaltransaction/000123/action/release", json_response(200, {}))
    async with fake.client() as c:
        await c.accounts()
        await c.release_journal("000123", None)
    api = fake.api_requests()
    assert len(api) == 2
    for r in api:
        assert r.headers["ipp-company-id"] == "1234567"
        assert r.headers["authorization"] == "Bearer tok-1"
        assert r.headers["accept"] == "application/json"
    assert "if-match" not in api[1].headers


async def test_token_is_cached_across_calls() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    async with fake.client() as c:
        for _ in range(5):
            await c.accounts()
        assert c.counters["token_requests"] == 1
    assert len(fake.token_requests) == 1
    assert len(fake.api_requests()) == 5


async def test_token_is_renewed_before_it_expires() -> None:
    fake = FakeVisma(expires_in=3600)
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    clock = FakeClock()
    async with fake.client(token_clock=clock) as c:
        await c.accounts()
        clock.now += 3600 - 61  # still outside the 60 s leeway
        await c.accounts()
        assert len(fake.token_requests) == 1
        clock.now += 2  # inside the leeway: renew before use
        await c.accounts()
    assert len(fake.token_requests) == 2
    assert [r.headers["authorization"] for r in fake.api_requests()] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_short_lived_token_renews_at_half_life() -> None:
    fake = FakeVisma(expires_in=10)
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    clock = FakeClock()
    async with fake.client(token_clock=clock) as c:
        await c.accounts()
        clock.now += 4.9
        await c.accounts()
        clock.now += 0.2
        await c.accounts()
    assert len(fake.token_requests) == 2


async def test_401_renews_the_token_once_and_repeats_the_call() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(401), json_response(200, ACCOUNTS))
    async with fake.client() as c:
        accounts = await c.accounts()
        assert c.counters["token_renewals"] == 1
    assert [a.number for a in accounts] == ["1920"]
    assert [r.headers["authorization"] for r in fake.api_requests()] == ["Bearer tok-1", "Bearer tok-2"]


async def test_401_after_renewal_is_fatal_and_not_retried_further() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(401))
    async with fake.client() as c:
        with pytest.raises(FatalDestinationError) as info:
            await c.accounts()
    assert info.value.status == 401
    assert len(fake.api_requests()) == 2
    assert len(fake.token_requests) == 2


async def test_401_on_a_create_is_renewed_and_resent_once() -> None:
    from tests.visma.test_client_support import voucher

    fake = FakeVisma()
    created = json_response(
        201, headers={"Location": "https://api.test/v2/journaltransaction/000123", "ETag": '"AAA="'}
    )
    fake.route("POST", "/v2/journaltransaction", json_response(401), created)
    async with fake.client() as c:
        result = await c.create_journal(voucher())
    assert result.batch_number == "000123"
    assert len(fake.api_requests("POST")) == 2


async def test_403_is_fatal_without_renewal() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(403, {"message": "Forbidden"}))
    async with fake.client() as c:
        with pytest.raises(FatalDestinationError):
            await c.accounts()
    assert len(fake.token_requests) == 1
    assert len(fake.api_requests()) == 1


@pytest.mark.parametrize("error", ["invalid_client", "invalid_tenant"])
async def test_token_endpoint_refusal_is_fatal_and_names_the_oauth_error(error: str) -> None:
    fake = FakeVisma()
    fake.token_queue = [json_response(400, {"error": error})]
    async with fake.client() as c:
        with pytest.raises(FatalDestinationError) as info:
            await c.accounts()
    assert error in str(info.value)
    assert SECRET not in str(info.value)
    assert fake.api_requests() == []
    assert len(fake.token_requests) == 1  # not retried


async def test_token_endpoint_5xx_is_retried() -> None:
    fake = FakeVisma()
    fake.token_queue = [json_response(503), json_response(200, {"access_token": "tok-x", "expires_in": 3600})]
    fake.route("GET", "/v1/account", json_response(200, ACCOUNTS))
    with fast_retries():
        async with fake.client() as c:
            await c.accounts()
    assert len(fake.token_requests) == 2
    assert fake.api_requests()[0].headers["authorization"] == "Bearer tok-x"


async def test_token_endpoint_connection_failure_is_retriable() -> None:
    fake = FakeVisma()
    fake.token_queue = [httpx2.ConnectError("refused")]
    with fast_retries():
        async with fake.client() as c:
            with pytest.raises(RetriableDestinationError):
                await c.accounts()
    assert len(fake.token_requests) == 5  # VISMA_POLICY attempts


async def test_token_response_without_access_token_is_fatal() -> None:
    fake = FakeVisma()
    fake.token_queue = [json_response(200, {"token_type": "Bearer"})]
    async with fake.client() as c:
        with pytest.raises(FatalDestinationError, match="access_token"):
            await c.accounts()


async def test_secrets_never_appear_in_reprs_or_errors() -> None:
    fake = FakeVisma()
    echo = f"Authorization: Bearer tok-1 client_secret={SECRET}"
    fake.route("GET", "/v1/account", json_response(400, {"message": echo}))
    async with fake.client() as c:
        with pytest.raises(RejectedByDestinationError) as info:
            await c.accounts()
        texts = [
            repr(c),
            repr(c.settings),
            str(c.settings),
            repr(c._tokens),
            str(info.value),
            repr(info.value),
            str(info.value.visma_message),
        ]
    for text in texts:
        assert SECRET not in text
        assert "tok-1" not in text


def test_settings_refuse_plain_http_except_loopback_and_credentials_in_urls() -> None:
    with pytest.raises(ConfigError) as info:
        settings(
            api_url="http://api.finance.visma.net", token_url="https://u:p@connect.visma.com/connect/token"
        )
    assert len(info.value.problems) == 2
    assert settings(api_url="http://127.0.0.1:8080").api_base == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError):
        settings(client_secret="", page_size=0)
