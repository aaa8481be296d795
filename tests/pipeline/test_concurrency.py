"""Two processes running the same cycle on the same ledger at the same time never double-post."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ml_connector.ledger.store import DocStatus
from tests.pipeline.conftest import ConnectionFactory, Dataset
from tests.support.visma_sim import VismaSim


def test_two_processes_at_once_never_double_post(
    connection_factory: ConnectionFactory, visma_sim_factory: Callable[..., VismaSim]
) -> None:
    # a little latency so that both processes are posting at the same time
    sim = visma_sim_factory(seed="demo", faults="latency=15ms")
    c = connection_factory(sim)
    ds = Dataset.make(60, missing=0, seed=9)
    ids = ds.invoice_ids
    for k in range(3):
        c.put_invoices(
            f"stampli_invoices_C100234_20250331T071500Z_{k + 1:04d}.csv",
            ds.invoices_text(ids[k * 20 : (k + 1) * 20]),
        )
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    expected = ds.expected(ids)

    procs = [c.popen("run", "--json") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, f"rc={p.returncode}\n{out}\n{err}"
    summaries: list[dict[str, Any]] = [json.loads(out)[0] for out, _ in outs]

    c.assert_exactly_once(expected)
    app = c.open_app()
    assert app.ledger.status_counts(c.name) == {DocStatus.POSTED: len(expected)}
    # each document was posted by exactly one of them
    assert sum(int(s["posted"]) for s in summaries) == len(expected), summaries
    assert sum(int(s["documents_new"]) for s in summaries) == len(expected), summaries
    # and they really ran at the same time
    runs = app.ledger.last_runs(c.name, limit=10)
    assert len(runs) == 2 and all(r["status"] == "ok" for r in runs)
    a, b = runs
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"], runs
