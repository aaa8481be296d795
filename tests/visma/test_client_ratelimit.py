"""Rate limits: header parsing, pacing math, the in-process budget, 429 + Retry-After in the client."""

from __future__ import annotations

import time

from ml_connector.adapters.visma.ratelimit import InProcessBudget, RateState, next_slot, parse_rate_headers
from ml_connector.errors import RetriableDestinationError
from tests.visma.test_client_support import FakeVisma, fast_retries, json_response

ACCOUNTS = [{"accountCD": "1920", "metadata": {"totalCount": 1, "maxPageSize": 1000}}]


def test_parse_rate_headers_seconds_and_epoch() -> None:
    st = parse_rate_headers(
        {"x-ratelimit-limit": "15000", "x-ratelimit-remaining": "14990", "x-ratelimit-reset": "1800"},
        now=100.0,
    )
    assert st == RateState(limit=15000, remaining=14990, reset_at=1900.0)
    st = parse_rate_headers({"x-ratelimit-reset": "1900000000"}, now=100.0)
    assert st is not None and st.reset_at == 1_900_000_000.0
    assert parse_rate_headers({"content-type": "application/json"}, now=1.0) is None
    st = parse_rate_headers({"x-ratelimit-remaining": "lots"}, now=1.0)
    assert st is None


def test_next_slot_rules() -> None:
    now = 1000.0
    # Unknown budget or a window that has already reset: go now.
    assert next_slot(RateState(), now, None, 10) == now
    assert next_slot(RateState(100, 0, now - 1), now, None, 10) == now
    # Nothing left: wait for the reset.
    assert next_slot(RateState(100, 0, now + 30), now, None, 10) == now + 30
    # Comfortable budget: no pacing.
    assert next_slot(RateState(100, 50, now + 30), now, now, 10) == now
    # Low budget: spread the remaining 5 calls over the 30 s left, one every 30 / 6 = 5 s.
    assert next_slot(RateState(100, 5, now + 30), now, now, 10) == now + 5
    assert next_slot(RateState(100, 5, now + 30), now, None, 10) == now  # nothing sent yet
    assert next_slot(RateState(100, 5, now + 30), now, now - 10, 10) == now  # long since the last slot


async def test_budget_spreads_remaining_calls_until_the_reset() -> None:
    budget = InProcessBudget(low_water=10)
    now = 1000.0
    await budget.observe(RateState(limit=100, remaining=4, reset_at=now + 8), now)
    slots = [await budget.reserve(now) for _ in range(4)]
    # first call goes now; each later one waits for an even share of the time left
    assert slots[0] == now
    assert slots == [now, now + 2, now + 4, now + 6]  # 8 s shared by 3 calls + 1 margin
    assert budget.snapshot().remaining == 0
    # once the budget is spent, the next call waits for the reset
    assert await budget.reserve(now) == now + 8


async def test_budget_never_bursts_past_the_limit() -> None:
    budget = InProcessBudget(low_water=10)
    now = 0.0
    await budget.observe(RateState(limit=20, remaining=20, reset_at=60.0), now)
    slots = [await budget.reserve(now) for _ in range(25)]
    in_window = [s for s in slots if s < 60.0]
    assert len(in_window) == 20  # exactly the budget before the reset, the rest at the reset
    assert slots[20:] == [60.0] * 5
    assert slots[:10] == [0.0] * 10  # comfortable part goes straight away


async def test_budget_trusts_the_lowest_count_within_a_window_and_resets_on_a_new_one() -> None:
    budget = InProcessBudget()
    await budget.observe(RateState(100, 50, 60.0), 0.0)
    await budget.observe(RateState(100, 55, 60.0), 1.0)  # late answer to an earlier call
    assert budget.snapshot().remaining == 50
    await budget.observe(RateState(100, 49, 60.9), 2.0)  # Reset rounded up: same window
    assert budget.snapshot() == RateState(100, 49, 60.0)
    await budget.observe(RateState(100, 99, 3660.0), 61.0)  # next window
    assert budget.snapshot() == RateState(100, 99, 3660.0)


async def test_429_blocks_every_caller_until_retry_after() -> None:
    budget = InProcessBudget()
    await budget.throttled(5.0, now=100.0)
    assert await budget.reserve(101.0) == 105.0
    assert await budget.reserve(106.0) == 106.0


async def test_client_waits_retry_after_on_429_then_succeeds() -> None:
    fake = FakeVisma()
    fake.route(
        "GET",
        "/v1/account",
        json_response(
            429,
            {"statusCode": 429, "message": "Rate limit is exceeded."},
            {
                "Retry-After": "1",
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": "1",
            },
        ),
        json_response(
            200,
            ACCOUNTS,
            {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "3600"},
        ),
    )
    with fast_retries():
        async with fake.client() as c:
            started = time.monotonic()
            accounts = await c.accounts()
            elapsed = time.monotonic() - started
            assert c.counters["throttled"] == 1 and c.counters["retries"] == 1
            assert c.rate_state.limit == 5 and c.rate_state.remaining == 4
    assert [a.number for a in accounts] == ["1920"]
    assert len(fake.api_requests()) == 2
    # retry_async's wait is shrunk by the test switch, but the budget keeps every caller out
    # for the real Retry-After (1 s), so the second call cannot go earlier.
    assert elapsed >= 0.9


async def test_client_gives_up_after_the_policy_on_persistent_429() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/account", json_response(429, None, {"Retry-After": "0"}))
    with fast_retries():
        async with fake.client() as c:
            try:
                await c.accounts()
            except RetriableDestinationError as exc:
                assert exc.status == 429
            else:
                raise AssertionError("expected RetriableDestinationError")
    assert len(fake.api_requests()) == 5


async def test_client_paces_when_the_budget_runs_low() -> None:
    fake = FakeVisma()
    reset = "1"  # one second left in the window, 3 calls remaining
    fake.route(
        "GET",
        "/v1/account",
        json_response(
            200,
            ACCOUNTS,
            {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": reset},
        ),
    )
    async with fake.client() as c:
        started = time.monotonic()
        for _ in range(3):
            await c.accounts()
        elapsed = time.monotonic() - started
        assert c.paced_seconds > 0.3
    assert elapsed >= 0.3  # spread over the window instead of bursting
    assert elapsed < 3.0


def test_a_new_limit_is_a_new_window_not_min_of_the_old_count() -> None:
    """A burst at 5 calls per second used our whole count; when the limit is back at 1,000,000
    per hour the first answer must not be min'ed with our 0 (that waited an hour: seen in chaos)."""
    from ml_connector.adapters.visma.ratelimit import BudgetRow, observe_rule, reserve_rule

    row = BudgetRow(limit=5, remaining=0, reset_at=100.0)
    row, slot = reserve_rule(row, 101.0, low_water=2)  # window over: a fresh one of 5, end unknown
    for _ in range(4):
        row, slot = reserve_rule(row, 101.0, low_water=2)
    assert row.remaining == 0 and row.reset_at is None
    row = observe_rule(row, RateState(limit=1_000_000, remaining=999_990, reset_at=101.0 + 3600), 101.1)
    row, slot = reserve_rule(row, 101.2, low_water=2)
    assert slot == 101.2
    assert row.remaining is not None and row.remaining > 999_000


def test_answers_without_rate_headers_and_failures_end_calls_in_flight() -> None:
    from ml_connector.adapters.visma.ratelimit import BudgetRow, observe_rule, reserve_rule

    row = BudgetRow(limit=40, remaining=40, reset_at=200.0)
    for _ in range(30):
        row, _slot = reserve_rule(row, 190.0, low_water=5)
    assert row.inflight == 30
    for _ in range(30):  # 5xx without headers, dropped connections: observed as "nothing reported"
        row = observe_rule(row, RateState(), 190.5)
    assert row.inflight == 0 and row.remaining == 10 and row.reset_at == 200.0
    # the next window is then judged by what Visma reports, not lowered by phantom calls
    row = observe_rule(row, RateState(limit=40, remaining=39, reset_at=204.0), 201.0)
    assert row.remaining == 39
