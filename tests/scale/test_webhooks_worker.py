"""The scaled-out mode receives Visma's webhooks too: `ml-connector worker --webhooks` listens on
``[webhooks] port``, an accepted notice becomes an ``mlc.refresh`` job, and the documents parked on
the notified cost center post within seconds of the notice (a 30 s poll interval: a new
connection's first cycle in the scaled-out mode waits one interval). Real
PostgreSQL, real sshd, the simulator sending signed notices over real HTTP, worker processes.
"""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scale.harness import CONSOLE, Company, Fleet, Worker, free_port
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

pytestmark = [pytest.mark.postgres, pytest.mark.openssh]

KEY_ENV = "MLC_SCALE_WEBHOOK_KEY"
KEY = "whk-scale-8d2e71"


@dataclass
class HookedFleet(Fleet):
    hook_port: int = 0

    def config_text(self) -> str:
        return super().config_text() + (
            f'\n[webhooks]\nenabled = true\nsecret = "env:{KEY_ENV}"\nport = {self.hook_port}\n'
        )

    def env(self) -> dict[str, str]:
        return {**super().env(), KEY_ENV: KEY}

    def start_webhook_worker(self) -> Worker:
        log_path = self.workdir / "worker-hooks.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(CONSOLE), "worker", "--database", self.database_url,
                    "--config", str(self.config_path), "--tick", str(self.tick),
                    "--stalled-after", str(self.stalled_after), "--webhooks",
                ],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            )  # fmt: skip
        worker = Worker(proc, log_path, 0)
        self.workers.append(worker)
        return worker


@pytest.fixture
def fleet(
    tmp_path: Path,
    postgres_url: str,
    openssh_server: OpenSshServer,
    visma_sim_factory: Callable[..., VismaSim],
) -> Iterator[HookedFleet]:
    sims = [visma_sim_factory(seed="demo")]
    f = HookedFleet(
        tmp_path, postgres_url, openssh_server, sims, [Company.make(0, 6)], poll_interval=30,
        hook_port=free_port(),
    )  # fmt: skip
    f.setup()
    try:
        yield f
    finally:
        f.close()


def test_worker_webhook_posts_parked_documents_within_seconds(fleet: HookedFleet) -> None:
    f = fleet
    sim = f.sims[0]
    assert f.cli("db", "upgrade", "--database", f.database_url).returncode == 0
    first = next(csv.DictReader(io.StringIO(f.companies[0].invoices[0][1], newline="")))
    cost_center = first["department"].rjust(4, "0")
    sim.add_segment_value(1, cost_center, "switched off for the test", active=False)

    f.start_webhook_worker()
    f.start_worker()
    f.wait_until(
        "the first cycle parks the invoices on the inactive cost center",
        lambda: (
            f.status_counts()["parked"] >= 1
            and not any(f.status_counts()[s] for s in ("pending", "posting", "unknown", "created"))
        ),
        180,
        every=1.0,
    )
    parked = f.status_counts()["parked"]
    response = sim.http.post(
        "/_sim/webhooks", json={"url": f"http://127.0.0.1:{f.hook_port}/webhooks/visma", "key": KEY}
    )
    response.raise_for_status()
    sim.add_segment_value(1, cost_center, "back in use", active=True)
    expected = f.companies[0].expected
    seconds = f.wait_until(
        "the parked invoices post", lambda: f.status_counts()["posted"] == len(expected), 10
    )
    print(f"{parked} parked invoices posted {seconds:.2f} s after the notice (worker)")
    assert seconds < 5
    assert sim.http.get("/_sim/webhooks").json()["answers"] == {"202": 1}
    rows = f.query("SELECT stats FROM runs WHERE stats->>'trigger' = 'webhook'")
    assert [r[0]["auto_replayed"] for r in rows] == [parked]  # the notice replayed them, not a poll
    f.assert_exactly_once(sim, f.companies[0].expected)
