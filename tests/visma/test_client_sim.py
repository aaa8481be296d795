"""The client against the Visma simulator over real HTTP on loopback.

Every exchange is validated against the Visma OpenAPI files by the ``visma_sim`` fixture at
teardown; the tests also assert that no violation was recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ml_connector import retry
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.domain.journal import Segment, Voucher, VoucherLine
from ml_connector.errors import (
    AmbiguousDestinationError,
    FatalDestinationError,
    RejectedByDestinationError,
)
from tests.support.visma_sim import VismaSim

PERIOD = "202603"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def client_for(sim: VismaSim, **kw: Any) -> VismaClient:
    client_kw = {k: kw.pop(k) for k in ("budget", "policy") if k in kw}
    settings = VismaSettings(
        client_id=kw.pop("client_id", sim.client_id),
        client_secret=kw.pop("client_secret", sim.client_secret),
        tenant_id=kw.pop("tenant_id", sim.tenant_id),
        company_id=kw.pop("company_id", sim.company_id),
        api_url=sim.api_url,
        token_url=sim.token_url,
        timeout=kw.pop("timeout", 10.0),
        **kw,
    )
    return VismaClient(settings, **client_kw)


def voucher(
    reference: str, amount: str = "31748.10", *, period: str = PERIOD, account: str = "6800"
) -> Voucher:
    amt = Decimal(amount)
    return Voucher(
        transaction_date=date(int(period[:4]), int(period[4:]), 15),
        financial_period=period,
        currency="NOK",
        description=f"Stampli invoice {reference}",
        reference=reference,
        lines=(
            VoucherLine(
                account, amt, Decimal(0), reference, "Kontorrekvisita", (Segment(1, "0200"), Segment(2, "00"))
            ),
            VoucherLine(
                "2460", Decimal(0), amt, reference, "Stampli clearing", (Segment(1, "0000"), Segment(2, "00"))
            ),
        ),
    )


def assert_contract_clean(sim: VismaSim) -> None:
    assert [str(v) for v in sim.contract_violations()] == []


async def test_reads_master_data(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        accounts = {a.number: a for a in await c.accounts()}
        segments = await c.subaccount_dimension()
        subaccounts = await c.subaccounts()
        suppliers = await c.suppliers()
        branches = await c.branches()
        ledgers = await c.ledgers()
        currencies = {x.id: x for x in await c.currencies()}
        periods = {p.period: p for p in await c.financial_periods()}
        calls = c.counters["requests"]
    assert accounts["6800"].description == "Kontorrekvisita" and accounts["6800"].type == "Expense"
    assert accounts["2400"].control_account_module == "AP" and accounts["2400"].allow_manual_entry is False
    assert accounts["2780"].active is False
    assert [(s.segment_id, s.length) for s in segments] == [(1, 4), (2, 2)]
    assert "0200" in {v.value for v in segments[0].values}
    assert "0200-00" in {s.number for s in subaccounts}
    assert any(s.number == "10023" and s.name == "Nordlys Kontorrekvisita AS" for s in suppliers)
    assert branches[0].number == "1" and ledgers[0].number == "L"
    assert currencies["NOK"].is_base is True and currencies["EUR"].is_base is False
    assert periods["202501"].closed_in_gl is True and periods[PERIOD].closed_in_gl is False
    assert periods[PERIOD].start_date == date(2026, 3, 1)
    assert calls >= 8
    assert_contract_clean(visma_sim)


async def test_every_request_carries_the_company_header(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        await c.accounts()
        await c.create_journal(voucher("HDR-1"))
    api = [e for e in visma_sim.exchanges if not e.path.startswith(("/_sim/", "/connect/"))]
    assert [(e.method, e.path) for e in api] == [("GET", "/v1/account"), ("POST", "/v2/journaltransaction")]
    for e in api:
        headers = {k.lower(): v for k, v in e.request_headers.items()}
        assert headers["ipp-company-id"] == visma_sim.company_id
        assert headers["accept"] == "application/json"
        assert headers["authorization"].startswith("Bearer ")
    post_headers = {k.lower(): v for k, v in api[1].request_headers.items()}
    assert post_headers["content-type"] == "application/json"
    assert b'{"value":31748.10}' in api[1].request_body


async def test_post_balanced_journal_get_it_back_and_release(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_journal(voucher("INV-1001", "31748.10"))
        batch = await c.get_journal(created.batch_number)
        new_etag = await c.release_journal(created.batch_number, created.etag)
        released = await c.get_journal(created.batch_number)
    assert created.location.endswith(f"/v2/journaltransaction/{created.batch_number}")
    assert batch.batch_number == created.batch_number
    assert batch.etag == created.etag
    assert batch.financial_period == PERIOD and batch.currency == "NOK"
    assert [(ln.account, ln.debit, ln.credit) for ln in batch.lines] == [
        ("6800", Decimal("31748.10"), Decimal(0)),
        ("2460", Decimal(0), Decimal("31748.10")),
    ]
    assert str(batch.lines[0].debit) == "31748.10"
    assert batch.references == {"INV-1001"}
    assert batch.lines[0].subaccount == (Segment(1, "0200"), Segment(2, "00"))
    assert batch.debit_total == batch.credit_total == Decimal("31748.10")
    assert new_etag and new_etag != created.etag
    assert released.status == "Released" and released.etag == new_etag
    assert_contract_clean(visma_sim)


async def test_release_with_stale_etag_is_rejected_412(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_journal(voucher("INV-412"))
        await c.release_journal(created.batch_number, created.etag)
        with pytest.raises(RejectedByDestinationError) as info:
            await c.release_journal(created.batch_number, created.etag)
    assert info.value.status == 412
    assert_contract_clean(visma_sim)


async def test_find_by_reference(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        first = await c.create_journal(voucher("REF-A", "100.00"))
        await c.create_journal(voucher("REF-B", "200.00"))
        found = await c.find_by_reference("REF-A", period=PERIOD)
        missing = await c.find_by_reference("REF-C", period=PERIOD)
    assert [j.batch_number for j in found] == [first.batch_number]
    assert found[0].lines[0].debit == Decimal("100.00")
    assert missing == []
    assert_contract_clean(visma_sim)


async def test_journals_are_paged_by_lines_and_merged(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", journal_max_page_size=3)
    async with client_for(sim) as c:
        numbers = [(await c.create_journal(voucher(f"PG-{i}", f"{i}.50"))).batch_number for i in range(1, 5)]
        batches = await c.journals(period=PERIOD)
        pages = c.counters["GET /v2/journaltransaction"]
    assert [b.batch_number for b in batches] == numbers
    assert all(len(b.lines) == 2 for b in batches)  # batches split over pages come back whole
    assert pages == 3  # 8 lines, 3 per page
    assert_contract_clean(sim)


async def test_validation_failures_are_rejected_with_visma_message(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        with pytest.raises(RejectedByDestinationError) as unknown:
            await c.create_journal(voucher("BAD-1", account="9999"))
        with pytest.raises(RejectedByDestinationError) as closed:
            await c.create_journal(voucher("BAD-2", period="202501"))
        with pytest.raises(RejectedByDestinationError) as missing:
            await c.get_journal("999999")
    assert unknown.value.status == 400 and "9999" in (unknown.value.visma_message or "")
    assert closed.value.status == 400 and closed.value.visma_message
    assert missing.value.status == 404
    assert_contract_clean(visma_sim)


async def test_ambiguous_create_when_the_connection_drops_after_commit(
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    sim = visma_sim_factory(seed="demo", faults="drop_next=1")
    async with client_for(sim) as c:
        with pytest.raises(AmbiguousDestinationError):
            await c.create_journal(voucher("AMB-1"))
        posts = c.counters["POST /v2/journaltransaction"]
        settled = await c.find_by_reference("AMB-1", period=PERIOD)
    assert posts == 1  # never resent
    assert len(settled) == 1  # it was booked: the lookup settles the unknown outcome
    assert sim.stats()["dropped_after_commit"] == 1
    assert_contract_clean(sim)


async def test_5xx_on_read_is_retried(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", faults="5xx_next=1")
    async with client_for(sim) as c:
        accounts = await c.accounts()  # first try gets 500, the retry succeeds
        assert c.counters["retries"] == 1
        assert c.counters["GET /v1/account"] == 2
    assert accounts
    assert sim.stats()["injected_5xx"] == 1
    assert_contract_clean(sim)


async def test_5xx_on_create_is_ambiguous_and_not_resent(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", faults="5xx_next=1")
    async with client_for(sim) as c:
        with pytest.raises(AmbiguousDestinationError):
            await c.create_journal(voucher("AMB-5XX"))
        assert c.counters["POST /v2/journaltransaction"] == 1
        # This 500 came before processing, so the lookup finds nothing: safe to post again.
        assert await c.find_by_reference("AMB-5XX", period=PERIOD) == []
    assert_contract_clean(sim)


async def test_429_waits_retry_after_then_succeeds(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", rate_limit="3/1")
    async with client_for(sim) as greedy, client_for(sim) as other:
        for _ in range(3):
            await greedy.currencies()  # spends the window; `other` does not know
        started = time.monotonic()
        currencies = await other.currencies()
        waited = time.monotonic() - started
        assert other.counters["throttled"] == 1 and other.counters["retries"] == 1
        assert other.rate_state.limit == 3
    assert {c.id for c in currencies} == {"EUR", "NOK", "SEK"}
    assert sim.stats()["rate_limited"] == 1
    assert waited >= 0.5  # Retry-After (1 s, less what was left of the window) was honoured
    assert_contract_clean(sim)


async def test_pacing_uses_the_budget_without_429(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", rate_limit="4/1")
    async with client_for(sim) as c:
        started = time.monotonic()
        for _ in range(10):
            await c.currencies()
        elapsed = time.monotonic() - started
        assert c.counters["throttled"] == 0
        assert c.paced_seconds > 0
    assert sim.stats()["rate_limited"] == 0
    assert elapsed >= 1.0  # 10 calls at 4 per second need at least two window resets
    assert_contract_clean(sim)


async def test_expired_token_is_renewed_once(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        await c.accounts()
        assert visma_sim.expire_tokens() >= 1
        await c.accounts()
        assert c.counters["token_renewals"] == 1
        assert c.counters["token_requests"] == 2
    assert_contract_clean(visma_sim)


async def test_token_dying_early_is_renewed(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="demo", faults="token_ttl=0.2s")
    async with client_for(sim) as c:
        await c.currencies()
        time.sleep(0.3)
        await c.currencies()
        assert c.counters["token_renewals"] == 1
    assert_contract_clean(sim)


async def test_bad_credentials_and_customer_tenant_are_fatal(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim, client_secret="wrong-secret") as c:
        with pytest.raises(FatalDestinationError) as bad_secret:
            await c.accounts()
    assert "wrong-secret" not in str(bad_secret.value)
    async with client_for(visma_sim, tenant_id="00000000-0000-0000-0000-000000000000") as c:
        with pytest.raises(FatalDestinationError):
            await c.accounts()
    async with client_for(visma_sim, tenant_id=visma_sim.customer_tenant_id) as c:
        with pytest.raises(FatalDestinationError) as customer:
            await c.accounts()
        assert c.counters["token_renewals"] == 1  # renewed once, then gave up
    assert customer.value.status == 401
    async with client_for(visma_sim, company_id="999") as c:
        with pytest.raises(FatalDestinationError) as company:
            await c.accounts()
    assert company.value.context.get("code") == "12002"
    assert_contract_clean(visma_sim)


async def test_incremental_refresh_with_last_modified(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        accounts = await c.accounts()
        suppliers = await c.suppliers()
        account_since = max(a.last_modified for a in accounts if a.last_modified)
        supplier_since = max(s.last_modified for s in suppliers if s.last_modified)
        time.sleep(0.01)
        visma_sim.update_account("6800", description="Kontorrekvisita og papir")
        visma_sim.modify_supplier("10023", name="Nordlys Kontor AS")
        changed = await c.accounts(modified_since=account_since)
        changed_suppliers = await c.suppliers(modified_since=supplier_since)
    numbers = {a.number for a in changed}
    assert "6800" in numbers
    assert len(numbers) <= 2  # the changed one, plus the newest one at the boundary (>=)
    assert next(a for a in changed if a.number == "6800").description == "Kontorrekvisita og papir"
    assert "10023" in {s.number for s in changed_suppliers}
    assert len(changed_suppliers) <= 2
    assert next(s for s in changed_suppliers if s.number == "10023").name == "Nordlys Kontor AS"
    assert_contract_clean(visma_sim)
