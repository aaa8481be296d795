"""Scale-out against a real PostgreSQL: three `ml-connector worker` processes, twenty connections
(each its own Stampli company and SFTP folders on a real sshd) posting into two Visma simulators
with a tight rate limit, and one worker SIGKILLed while it holds claims.

It asserts: every approved document is in Visma exactly once with its amount, every connection got
all its documents posted and kept cycling (none starved), the work was spread over the workers,
the killed worker's claims were taken over (claim expired -> looked up -> settled), every Visma
call of every worker went through the one shared budget row per simulator, and the 429s stayed
rare although the run needed several rate windows. Plus `/metrics`, `/healthz` and JSON logs
carrying connection, run and document ids.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.scale.harness import Company, Fleet, head_revision
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

pytestmark = [pytest.mark.postgres, pytest.mark.openssh, pytest.mark.slow]

CONNECTIONS = 20
INVOICES_PER_CONNECTION = 10
RATE_LIMIT = (40, 2)  # calls per window (seconds), per simulator
WORKERS = 3


@pytest.fixture
def fleet(
    tmp_path: Path,
    postgres_url: str,
    openssh_server: OpenSshServer,
    visma_sim_factory: Callable[..., VismaSim],
) -> Iterator[Fleet]:
    limit, window = RATE_LIMIT
    sims = [visma_sim_factory(seed="demo", rate_limit=f"{limit}/{window}") for _ in range(2)]
    companies = [Company.make(i, INVOICES_PER_CONNECTION) for i in range(CONNECTIONS)]
    f = Fleet(tmp_path, postgres_url, openssh_server, sims, companies)
    f.setup()
    try:
        yield f
    finally:
        f.close()


def test_three_workers_twenty_connections_one_killed(fleet: Fleet) -> None:
    f = fleet
    up = f.cli("db", "upgrade", "--database", f.database_url, "--json")
    assert up.returncode == 0, up.stderr
    assert f'"ledger_revision": "{head_revision()}"' in up.stdout

    workers = [f.start_worker() for _ in range(WORKERS)]
    victim = workers[1]
    victim_id = f"{socket.gethostname()}:{victim.pid}"

    # Kill the victim while it holds at least one claim (a create may be on the wire).
    f.wait_until(
        "the victim to claim documents",
        lambda: bool(
            f.query("SELECT 1 FROM documents WHERE status = 'posting' AND claimed_by = :w", w=victim_id)
        ),
        timeout=90,
        every=0.02,
    )
    f.kill(victim)

    total = f.expected_total()
    f.wait_until(
        f"all {total} documents posted",
        lambda: f.status_counts().get("posted", 0) == total,
        timeout=150,
        every=0.5,
    )

    # ---- exactly once, in Visma (per simulator, with the source amounts) and in the ledger
    for i, sim in enumerate(f.sims):
        expected = {r: a for c in f.companies if c.index % len(f.sims) == i for r, a in c.expected.items()}
        f.assert_exactly_once(sim, expected)
    assert f.status_counts() == {"posted": total}

    # ---- no connection starved: all its documents posted, and it kept cycling after the kill
    runs = {
        str(c): int(n)
        for c, n in f.query("SELECT connection, count(*) FROM runs WHERE status = 'ok' GROUP BY 1")
    }
    for c in f.companies:
        assert runs.get(c.name, 0) >= 1, f"{c.name} never completed a cycle"
        posted = f.query(
            "SELECT count(*) FROM documents WHERE connection = :c AND status = 'posted'", c=c.name
        )[0][0]
        assert posted == len(c.expected), c.name

    # ---- spread over the workers; the victim's claims were taken over by the others
    claims = dict(f.query("SELECT actor, count(*) FROM audit WHERE action = 'claimed' GROUP BY actor"))
    survivors = [f"worker:{socket.gethostname()}:{w.pid}" for w in workers if w is not victim]
    for s in survivors:
        assert claims.get(s, 0) > 0, f"{s} posted nothing: {claims}"
    assert claims.get(f"worker:{victim_id}", 0) > 0
    taken_over = f.query(
        "SELECT entity_key FROM audit WHERE action = 'claim_expired' AND reason LIKE :r",
        r=f"%({victim_id})%",
    )
    assert taken_over, "no claim of the killed worker was taken over"

    # ---- one shared rate budget per Visma window: every call of every worker reserved from it
    limit, _window = RATE_LIMIT
    budgets = {
        str(k): (int(r), int(t)) for k, r, t in f.query("SELECT key, reserved, throttled FROM rate_budgets")
    }
    assert len(budgets) == len(f.sims)
    for sim in f.sims:
        stats = sim.stats()
        api_calls = sum(
            n for op, n in stats["requests"].items() if "/connect/" not in op and "/_sim" not in op
        )
        print(f"{sim.api_url}: {api_calls} API calls, {stats['rate_limited']} answered 429; budget {budgets}")
        key = next(k for k in budgets if k.startswith(sim.api_url.rstrip("/")))
        reserved, throttled = budgets[key]
        assert reserved >= api_calls, (reserved, api_calls)  # reserved (and committed) before sending
        assert throttled <= 3, throttled
        assert api_calls > 3 * limit, "the run should need several rate windows"
        assert stats["rate_limited"] <= 3, f"too many 429s with a shared budget: {stats['rate_limited']}"

    # ---- observability on a surviving worker
    alive = workers[0]
    with httpx2.Client(base_url=f"http://127.0.0.1:{alive.metrics_port}", timeout=10) as http:
        health = http.get("/healthz")
        assert health.status_code == 200 and health.json()["database"] == "ok"
        text = http.get("/metrics").text
    assert "mlc_documents_posted_total{connection=" in text
    assert "mlc_visma_requests_total{connection=" in text
    assert "mlc_cycle_duration_seconds_count{connection=" in text
    assert 'mlc_backlog_documents{connection="c00"} 0.0' in text
    records = f.log_records(alive)
    assert any(r.get("connection") and r.get("run_id") for r in records), "no log line with connection + run"
    assert any(r.get("connection") and r.get("document") for r in records), "no log line with a document"
    assert not os.environ.get("ML_CONNECTOR_CRASH_AT")
