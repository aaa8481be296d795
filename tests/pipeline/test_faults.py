"""Fault injection in the simulator (5xx, ambiguous commits, 429s, token expiry), cycles run until
everything is settled (bounded), then the journal is checked: zero duplicates, zero losses.

Each case also asserts that its fault really happened, so a fault that silently stopped firing
cannot make the test pass for the wrong reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ml_connector.ledger.store import DocStatus
from tests.pipeline.conftest import ConnectionFactory, Dataset, cycles_until_settled
from tests.support.visma_sim import VismaSim

CREATE = "POST /v2/journaltransaction"


class BudgetBurner:
    """Another consumer of the same company budget (same client id and tenant): every ``every``
    seconds it spends what is left of the rate-limit window, so our client runs into 429 bursts
    although it paces itself by the headers it saw."""

    def __init__(self, sim: VismaSim, every: float = 1.5) -> None:
        self.sim = sim
        self.every = every
        self.own_429 = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.sim.api_client() as http:
            while not self.stop.is_set():
                for _ in range(200):
                    response = http.get("/v1/currency")
                    if response.status_code == 401:  # token_ttl: renew, as any client would
                        http.headers.update(self.sim.api_headers())
                        continue
                    if response.status_code == 429:
                        self.own_429 += 1
                        break
                    if response.headers.get("x-ratelimit-remaining") == "0":
                        break
                self.stop.wait(self.every)


@contextmanager
def burning(sim: VismaSim, on: bool) -> Iterator[BudgetBurner | None]:
    if not on:
        yield None
        return
    burner = BudgetBurner(sim)
    burner.thread.start()
    try:
        yield burner
    finally:
        burner.stop.set()
        burner.thread.join(timeout=10)


def _fired(stats: dict[str, Any], case: str, burner: BudgetBurner | None = None) -> None:
    statuses: dict[str, dict[str, int]] = stats["statuses"]
    if case in ("5xx", "all"):
        assert stats["injected_5xx"] > 0, stats
        assert statuses.get(CREATE, {}).get("500", 0) > 0, "no create ever got a 500"
    if case in ("ambiguous", "all"):
        assert stats["dropped_after_commit"] > 0, stats
    if case in ("429", "all"):
        # our client's 429s, not the burner's own
        assert stats["rate_limited"] > (burner.own_429 if burner else 0), stats
    if case in ("token_expiry", "all"):
        assert sum(s.get("401", 0) for s in statuses.values()) > 0, statuses


CASES: dict[str, dict[str, Any]] = {
    "5xx": {"faults": "5xx=0.15,seed=11"},
    "ambiguous": {"faults": "drop_after_commit=0.25,seed=12"},
    "429": {"rate_limit": "25/1"},
    "token_expiry": {"faults": "token_ttl=250ms,latency=10ms,seed=13"},
    "all": {"faults": "5xx=0.1,drop_after_commit=0.15,token_ttl=400ms,seed=14", "rate_limit": "40/1"},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
async def test_faults_zero_duplicates_zero_losses(
    case: str,
    fast_retries: None,
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    sim = visma_sim_factory(seed="demo", **CASES[case])
    c = connection_factory(sim)
    ds = Dataset.make(30, missing=0, seed=7)
    ids = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids[:15]))
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0002.csv", ds.invoices_text(ids[15:]))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    app = c.open_app()

    with burning(sim, case in ("429", "all")) as burner:
        results = await cycles_until_settled(app, c.name, max_cycles=15)

    _fired(sim.stats(), case, burner)
    c.assert_exactly_once(ds.expected(ids))
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: len(ds.expected(ids))}
    assert app.ledger.open_failures(c.name) == []
    settled = sum(r.posting.settled_found + r.posting.settled_not_found for r in results)
    if case in ("5xx", "ambiguous", "all"):
        assert settled > 0, "an unknown outcome must be settled by a lookup, never by a blind resend"
    if case == "ambiguous":
        # every dropped create was found again by its reference, never created a second time
        assert sum(r.posting.settled_found for r in results) >= sim.stats()["dropped_after_commit"]
    assert sum(r.posting.duplicates_found for r in results) == 0


@pytest.mark.parametrize("ledger_url", ["postgresql"], indirect=True)
async def test_faults_all_at_once_on_postgresql(
    fast_retries: None,
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    """The combined case on PostgreSQL, with tokens also revoked between cycles."""
    sim = visma_sim_factory(seed="demo", **CASES["all"])
    c = connection_factory(sim)
    ds = Dataset.make(30, missing=0, seed=8)
    ids = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    app = c.open_app()
    with burning(sim, True) as burner:
        await cycles_until_settled(app, c.name, max_cycles=15, between=sim.expire_tokens)
    _fired(sim.stats(), "all", burner)
    c.assert_exactly_once(ds.expected(ids))
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: len(ds.expected(ids))}
