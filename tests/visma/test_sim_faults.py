"""Simulator: rate limit, fault injection (latency, 5xx, drop after commit) and /_sim/stats."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx2
import pytest

from ml_connector.sim.visma.faults import Faults, RateLimit
from tests.support.visma_sim import VismaSim, journal_body, journal_line, post_json

URL = "/v2/journaltransaction"


def _body() -> dict[str, object]:
    return journal_body([journal_line("6800", debit="12.50"), journal_line("2460", credit="12.50")])


def test_fault_spec_parsing() -> None:
    faults = Faults.parse("latency=20ms,5xx=0.1,drop_after_commit=0.05,token_ttl=2s,seed=42")
    assert faults.latency == pytest.approx(0.02)
    assert (faults.error_rate, faults.drop_after_commit, faults.token_ttl, faults.seed) == (
        0.1,
        0.05,
        2.0,
        42,
    )
    assert Faults.parse("latency=1s").latency == 1.0
    assert Faults.parse("5xx_next=2,drop_next=1").describe()["5xx_next"] == 2
    for bad in ("5xx=2", "latency=fast", "bogus=1", "drop_next"):
        with pytest.raises(ValueError):
            Faults.parse(bad)
    assert RateLimit.parse("5/1") == RateLimit(5, 1.0)
    assert RateLimit.parse("100/1h") == RateLimit(100, 3600.0)
    with pytest.raises(ValueError):
        RateLimit.parse("0/60")


def test_fixed_window_rate_limit_headers_and_429(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(rate_limit="3/60")
    with sim.api_client() as api:
        responses = [api.get("/v1/ledger") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["x-ratelimit-limit"] for r in responses} == {"3"}
    assert {r.headers["x-ratelimit-policy"] for r in responses} == {"4-fixed-window"}
    assert 0 < int(responses[0].headers["x-ratelimit-reset"]) <= 60
    limited = responses[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Rate limit is exceeded" in limited.json()["message"]
    stats = sim.stats()
    assert stats["rate_limited"] == 1
    assert stats["statuses"]["GET /v1/ledger"] == {"200": 3, "429": 1}


def test_rate_limit_window_resets(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(rate_limit="1/0.3")
    with sim.api_client() as api:
        assert api.get("/v1/ledger").status_code == 200
        assert api.get("/v1/ledger").status_code == 429
        time.sleep(0.35)
        assert api.get("/v1/ledger").status_code == 200
        sim.set_rate_limit("100/60")
        assert api.get("/v1/ledger").headers["x-ratelimit-limit"] == "100"


def test_injected_5xx_happens_before_processing(visma_sim: VismaSim) -> None:
    with visma_sim.api_client() as api:
        visma_sim.set_faults("5xx_next=1")
        failed = post_json(api, URL, _body())
        assert failed.status_code == 500
        assert visma_sim.journal() == []  # nothing committed
        assert post_json(api, URL, _body()).status_code == 201
    assert visma_sim.stats()["injected_5xx"] == 1


def test_random_5xx_rate_is_seeded(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(faults="5xx=0.5,seed=7")
    with sim.api_client() as api:
        first = [api.get("/v1/currency").status_code for _ in range(20)]
    sim.set_faults("seed=7")
    with sim.api_client() as api:
        second = [api.get("/v1/currency").status_code for _ in range(20)]
    assert first == second
    assert set(first) == {200, 500}


def test_drop_after_commit_stores_the_batch_but_sends_no_response(visma_sim: VismaSim) -> None:
    visma_sim.set_faults("drop_next=1")
    with visma_sim.api_client() as api, pytest.raises(httpx2.TransportError):
        post_json(api, URL, _body())
    journal = visma_sim.journal()
    assert [b["batchNumber"] for b in journal] == ["000001"]  # committed: the ambiguous case
    assert visma_sim.stats()["dropped_after_commit"] == 1
    with visma_sim.api_client() as api:
        assert post_json(api, URL, _body()).status_code == 201  # one-shot


def test_latency_fault_delays_responses(visma_sim: VismaSim) -> None:
    with visma_sim.api_client() as api:
        visma_sim.set_faults("latency=150ms")
        started = time.monotonic()
        assert api.get("/v1/currency").status_code == 200
        assert time.monotonic() - started >= 0.15
        visma_sim.set_faults(reset=True)
        assert visma_sim.faults()["latency_ms"] == 0


def test_stats_count_per_method_and_template(visma_sim: VismaSim) -> None:
    with visma_sim.api_client() as api:
        api.get("/v1/account/1920")
        api.get("/v1/account/2400")
        api.get("/v1/account")
    stats = visma_sim.stats()
    assert stats["requests"]["GET /v1/account/{accountCd}"] == 2
    assert stats["requests"]["GET /v1/account"] == 1
    assert stats["requests"]["POST /connect/token"] == 1
    visma_sim.reset_stats()
    assert visma_sim.stats()["requests"] == {"GET /_sim/stats": 1}


def test_reset_restores_the_seed(visma_sim: VismaSim) -> None:
    with visma_sim.api_client() as api:
        assert post_json(api, URL, _body()).status_code == 201
    visma_sim.add_segment_value(1, "0450", "Bergen")
    visma_sim.reset()
    assert visma_sim.journal() == []
    config = visma_sim.config()
    assert config["company_name"] == "Fjordvarme AS"
    assert config["token_url"] == visma_sim.token_url
