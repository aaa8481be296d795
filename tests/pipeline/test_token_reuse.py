"""One Visma token per process and client identity: ``serve``'s polls (vendor delta, cycle) and
repeated ``run`` cycles of one App reuse it; ``check`` still fetches its own, because it checks the
credentials. Counted by the simulator's /connect/token requests over real HTTP."""

from __future__ import annotations

import asyncio
import time

from ml_connector import service
from tests.pipeline.conftest import Connection, Dataset
from tests.support.visma_sim import VismaSim

TOKEN = "POST /connect/token"


def _tokens(sim: VismaSim) -> int:
    return int(sim.stats()["requests"].get(TOKEN, 0))


def _fast_polls(c: Connection) -> None:
    """poll_interval 5 s (the shortest allowed, with allow_fast_poll); the rest as written."""
    text = c.config_path.read_text(encoding="utf-8")
    head = f"[connections.{c.name}]\n"
    c.config_path.write_text(
        text.replace(head, head + "poll_interval = 5\nallow_fast_poll = true\n", 1), encoding="utf-8"
    )


def test_serve_fetches_one_token_for_all_its_polls(connection: Connection) -> None:
    c = connection
    _fast_polls(c)
    data = Dataset.make(4)
    c.put_invoices("stampli_invoices_C100234_20250310T071500Z_0001.csv", data.invoices_text(data.invoice_ids))
    app = c.open_app()
    c.sim.reset_stats()

    async def serve_for(cycles: int) -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(service.serve(app, stop=stop))
        deadline = time.monotonic() + 90
        while len(app.ledger.last_runs(c.name, limit=cycles)) < cycles and time.monotonic() < deadline:
            assert not task.done(), task
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 60)
        return len(app.ledger.last_runs(c.name, limit=100))

    ran = asyncio.run(serve_for(2))
    requests = c.sim.stats()["requests"]
    assert ran >= 2, f"serve ran {ran} cycles"
    # every poll opened Visma clients: the vendor delta reads suppliers, the cycle refreshes master data
    assert requests.get("GET /v1/account", 0) >= ran and requests.get("GET /v1/supplier", 0) >= 2 * ran
    assert _tokens(c.sim) == 1, f"{_tokens(c.sim)} token requests for {ran} polls: {requests}"
    expected = data.expected(data.invoice_ids, payments=False)
    assert app.ledger.status_counts(c.name).get("posted", 0) == len(expected)


def test_one_app_reuses_its_token_across_runs_but_check_fetches_its_own(connection: Connection) -> None:
    c = connection
    app = c.open_app()
    c.sim.reset_stats()
    for _ in range(3):
        [result] = asyncio.run(service.run_once(app))
        assert result.status == "ok", result.errors
    assert _tokens(c.sim) == 1
    rows = asyncio.run(service.check(app))
    assert any(r.side == "visma" and r.ok for r in rows), rows
    assert _tokens(c.sim) == 2  # the probe asked Visma Connect itself
    other = c.open_app()  # another process would start without a token
    asyncio.run(service.run_once(other))
    assert _tokens(c.sim) == 3
