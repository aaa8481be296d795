"""Scaled-out mode fetches one Visma token per worker process and client identity, reused by every
job (cycles and ``mlc.post`` chunks alike), instead of one per job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.scale.harness import Company, Fleet
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

pytestmark = [pytest.mark.postgres, pytest.mark.openssh, pytest.mark.slow]

INVOICES = 20  # with their payments and --chunk-size 5: several mlc.post jobs


@pytest.fixture
def fleet(
    tmp_path: Path,
    postgres_url: str,
    openssh_server: OpenSshServer,
    visma_sim_factory: Callable[..., VismaSim],
) -> Iterator[Fleet]:
    sims = [visma_sim_factory(seed="demo")]
    f = Fleet(tmp_path, postgres_url, openssh_server, sims, [Company.make(0, INVOICES)])
    f.setup()
    try:
        yield f
    finally:
        f.close()


def test_one_worker_fetches_one_token_for_all_its_posting_jobs(fleet: Fleet) -> None:
    f = fleet
    up = f.cli("db", "upgrade", "--database", f.database_url, "--json")
    assert up.returncode == 0, up.stderr
    worker = f.start_worker()
    total = f.expected_total()
    f.wait_until(
        f"all {total} documents posted",
        lambda: f.status_counts().get("posted", 0) == total,
        timeout=120,
        every=0.5,
    )
    with httpx2.Client(base_url=f"http://127.0.0.1:{worker.metrics_port}", timeout=10) as http:
        metrics = http.get("/metrics").text
    f.stop_all()
    posting_jobs = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("mlc_jobs_total{") and 'task="mlc.post"' in line
    ]
    jobs = int(sum(posting_jobs))
    assert jobs >= 3, f"the run should need several posting jobs, not {jobs}"
    requests = f.sims[0].stats()["requests"]
    tokens = sum(n for op, n in requests.items() if op.endswith("/connect/token"))
    assert tokens == 1, f"{tokens} token requests for {jobs} posting jobs:\n{f.tail(worker)}"
    f.assert_exactly_once(f.sims[0], f.companies[0].expected)
