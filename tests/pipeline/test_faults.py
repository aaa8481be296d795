"""Fault injection in the simulator (5xx, ambiguous commits, 429s, token expiry), cycles run until
everything is settled (bounded), then the journal is checked: zero duplicates, zero losses.

Each case also asserts that its fault really happened, so a fault that silently stopped firing
cannot make the test pass for the wrong reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from ml_connector import retry
from ml_connector.ledger.store import DocStatus
from tests.pipeline.conftest import (
    TOTAL_COUNTS,
    ConnectionFactory,
    Dataset,
    cycles_until_settled,
    sim_counting,
)
from tests.support.visma_sim import VismaSim

CREATE = "POST /v2/journaltransaction"


def burn(sim: VismaSim, workers: int = 8) -> int:
    """Another consumer of the same company budget (same client id and tenant) spends what is
    left of the rate-limit window, fast (several threads), so our client's next calls run into
    429s although it paces itself by the headers it saw. Returns the burner's own 429s."""
    done = threading.Event()
    own = [0]
    lock = threading.Lock()

    def spend() -> None:
        with sim.api_client() as http:
            deadline = time.monotonic() + 5.0
            while not done.is_set() and time.monotonic() < deadline:
                response = http.get("/v1/currency")
                if response.status_code == 401:  # token_ttl: renew, as any client would
                    http.headers.update(sim.api_headers())
                    continue
                if response.status_code == 429:
                    with lock:
                        own[0] += 1
                    done.set()
                elif response.headers.get("x-ratelimit-remaining") == "0":
                    done.set()

    threads = [threading.Thread(target=spend) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return own[0]


def _fired(stats: dict[str, Any], case: str, burner_429: int = 0) -> None:
    statuses: dict[str, dict[str, int]] = stats["statuses"]
    if case in ("5xx", "all"):
        assert stats["injected_5xx"] > 0, stats
        assert statuses.get(CREATE, {}).get("500", 0) > 0, "no create ever got a 500"
    if case in ("ambiguous", "all"):
        assert stats["dropped_after_commit"] > 0, stats
    if case in ("429", "all"):
        # our client's 429s, not the burner's own
        assert stats["rate_limited"] > burner_429, stats
    if case in ("token_expiry", "all"):
        assert sum(s.get("401", 0) for s in statuses.values()) > 0, statuses


# (simulator options, retry-delay scale). The 429 cases keep Retry-After meaningful (a scale near 1)
# so the client waits for the window to reset instead of spending its attempts inside it.
CASES: dict[str, tuple[dict[str, Any], float]] = {
    "5xx": ({"faults": "5xx=0.15,seed=11"}, 0.01),
    "ambiguous": ({"faults": "drop_after_commit=0.25,seed=12"}, 0.01),
    "429": ({"rate_limit": "60/2"}, 1.0),
    "token_expiry": ({"faults": "token_ttl=250ms,latency=10ms,seed=13"}, 0.01),
    "all": ({"faults": "5xx=0.15,drop_after_commit=0.15,token_ttl=400ms,seed=14", "rate_limit": "60/2"}, 0.3),
    # every create answered 201 without a Location: the batch number is unknown, found by reference
    "no_location": ({"faults": "no_location=1"}, 0.01),
}


@pytest.fixture
def retry_scale() -> Iterator[Callable[[float], None]]:
    yield retry.set_testing
    retry.set_testing(None)


async def _run_case(
    case: str,
    seed: int,
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
    set_scale: Callable[[float], None],
    ledger_between: bool = False,
    total_count: str = "lines",
) -> None:
    options, scale = CASES[case]
    set_scale(scale)
    sim = sim_counting(visma_sim_factory, total_count, **options)
    c = connection_factory(sim)
    ds = Dataset.make(24, missing=0, seed=seed)
    ids = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids[:12]))
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0002.csv", ds.invoices_text(ids[12:]))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    app = c.open_app()
    burner_429 = burn(sim) if "rate_limit" in options else 0

    results = await cycles_until_settled(
        app, c.name, max_cycles=15, between=sim.expire_tokens if ledger_between else None
    )

    _fired(sim.stats(), case, burner_429)
    expected = ds.expected(ids)
    c.assert_exactly_once(expected)
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: len(expected)}
    assert app.ledger.open_failures(c.name) == []
    settled = sum(r.posting.settled_found + r.posting.settled_not_found for r in results)
    if case == "no_location":
        assert sim.faults()["no_location"] is True
        assert sum(r.posting.settled_found for r in results) == len(expected)
    if case in ("5xx", "ambiguous", "all", "no_location"):
        assert settled > 0, "an unknown outcome must be settled by a lookup, never by a blind resend"
    if case == "ambiguous":
        # every dropped create was found again by its reference, never created a second time
        assert sum(r.posting.settled_found for r in results) >= sim.stats()["dropped_after_commit"]
    assert sum(r.posting.duplicates_found for r in results) == 0


@pytest.mark.parametrize("total_count", TOTAL_COUNTS)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_faults_zero_duplicates_zero_losses(
    case: str,
    total_count: str,
    retry_scale: Callable[[float], None],
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    await _run_case(case, 7, connection_factory, visma_sim_factory, retry_scale, total_count=total_count)


@pytest.mark.postgres
@pytest.mark.parametrize("ledger_url", ["postgresql"], indirect=True)
async def test_faults_all_at_once_on_postgresql(
    retry_scale: Callable[[float], None],
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    """The combined case on PostgreSQL, with tokens also revoked between cycles."""
    await _run_case("all", 8, connection_factory, visma_sim_factory, retry_scale, ledger_between=True)


SUPPLIER_INVOICE_CREATE = "POST /v1/supplierInvoice"


@pytest.mark.parametrize("case", ["5xx", "ambiguous", "all", "no_location"])
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_faults_in_supplier_ledger_mode_zero_duplicates_zero_losses(
    case: str,
    retry_scale: Callable[[float], None],
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    """The same faults with the supplier-ledger target: every invoice becomes exactly one supplier
    invoice, each unknown create settled by the per-supplier lookup, never by a blind resend."""
    options, scale = CASES[case]
    retry_scale(scale)
    sim = visma_sim_factory(seed="demo", **options)
    c = connection_factory(sim, target="supplier_invoice")
    ds = Dataset.make(24, missing=0, seed=21)
    ids = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids[:12]))
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0002.csv", ds.invoices_text(ids[12:]))
    app = c.open_app()
    burner_429 = burn(sim) if "rate_limit" in options else 0

    results = await cycles_until_settled(app, c.name, max_cycles=15)

    stats = sim.stats()
    statuses: dict[str, dict[str, int]] = stats["statuses"]
    if case in ("5xx", "all"):
        assert statuses.get(SUPPLIER_INVOICE_CREATE, {}).get("500", 0) > 0, statuses
    if case in ("ambiguous", "all"):
        assert stats["dropped_after_commit"] > 0, stats
    if case == "all":
        assert stats["rate_limited"] > burner_429, stats
    c.assert_exactly_once_in_supplier_ledger(
        {f"ST-{i}": Decimal(ds.invoice_rows[i][0]["totalAmount"]) for i in ids}
    )
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: len(ids)}
    assert app.ledger.open_failures(c.name) == []
    if case != "5xx":  # a 500 before processing is retried; the others leave outcomes unknown
        assert sum(r.posting.settled_found for r in results) > 0, "unknown creates must be found again"
    assert sum(r.posting.duplicates_found for r in results) == 0


SUPPLIER_PAYMENT_CALLS = "POST /v1/supplierPayment"  # create (payments and voids) and release


@pytest.mark.parametrize("case", ["5xx", "ambiguous", "all", "no_location"])
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_faults_on_supplier_payments_and_their_voids_zero_duplicates_zero_losses(
    case: str,
    retry_scale: Callable[[float], None],
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    """Supplier-ledger mode, Stampli pays: under each fault every payment is exactly one released
    supplier payment and the void exactly one VoidPayment; unknown creates found by the lookup."""
    options, scale = CASES[case]
    retry_scale(scale)
    sim = visma_sim_factory(seed="demo", **options)
    c = connection_factory(sim, target="supplier_invoice")
    ds = Dataset.make(40, missing=0, seed=22)
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ds.invoice_ids))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    app = c.open_app()
    burner_429 = burn(sim) if "rate_limit" in options else 0
    results = await cycles_until_settled(app, c.name, max_cycles=15)
    c.put_payments("stampli_payments_C100234_20250401T053000Z_0001.csv", ds.voids_text())
    results += await cycles_until_settled(app, c.name, max_cycles=15)

    stats = sim.stats()
    statuses: dict[str, dict[str, int]] = stats["statuses"]
    failed = sum(v.get("500", 0) for k, v in statuses.items() if k.startswith(SUPPLIER_PAYMENT_CALLS))
    if case in ("5xx", "all"):
        assert failed > 0, statuses
    if case in ("ambiguous", "all"):
        assert stats["dropped_after_commit"] > 0, stats
    if case == "all":
        assert stats["rate_limited"] > burner_429, stats
    payments = sim.supplier_payments()
    refs = sorted(str(p["paymentRef"]) for p in payments if p["type"] == "Payment")
    assert refs == sorted(f"SP-{r['stampliPaymentId']}" for r in ds.payment_rows)  # each exactly once
    assert all(p["status"] in ("Closed", "Voided") for p in payments), payments
    voided = [p for p in payments if p["type"] == "VoidPayment"]
    assert [p["paymentRef"] for p in voided] == [f"SP-{r['stampliPaymentId']}" for r in ds.void_rows]
    assert [p["status"] for p in voided] == ["Closed"]
    n_docs = len(ds.invoice_ids) + len(ds.payment_rows) + len(ds.void_rows)
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: n_docs}
    assert app.ledger.open_failures(c.name) == []
    if case != "5xx":
        assert sum(r.posting.settled_found for r in results) > 0, "unknown creates must be found again"
    assert sum(r.posting.duplicates_found for r in results) == 0
