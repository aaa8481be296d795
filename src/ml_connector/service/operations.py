"""The operations the CLI and the dashboard offer: run, status, failures, replay, preview,
reconcile, check, serve. They only orchestrate the pipeline; no entry point holds business logic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from ml_connector.masterdata import schedule as coding_lists
from ml_connector.pipeline.booked import FOUND_IN_VISMA
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.reconcile import ReconRow, reconcile
from ml_connector.pipeline.replay import ReplayResult, replay
from ml_connector.pipeline.rules import Category
from ml_connector.pipeline.runtime import Runtime
from ml_connector.service import checks
from ml_connector.service.app import App
from ml_connector.service.checks import CheckRow
from ml_connector.service.unreleased import unreleased_by_period
from ml_connector.vendors.schedule import run_scheduled
from ml_connector.webhooks.apply import until_next_poll


async def run_once(app: App, connection: str | None = None) -> list[CycleResult]:
    """One cycle per connection; one failing connection never stops the others."""
    runtimes = app.runtimes_to_run(connection)
    results = await asyncio.gather(*(run_cycle(rt) for rt in runtimes), return_exceptions=True)
    out: list[CycleResult] = []
    for rt, res in zip(runtimes, results, strict=True):
        if isinstance(res, BaseException):
            failed = CycleResult(rt.name, status="failed")
            failed.errors.append(f"{type(res).__name__}: {res}")
            out.append(failed)
        else:
            out.append(res)
    return out


def status(app: App) -> list[dict[str, Any]]:
    out = []
    for c in app.config.connections:
        runs = app.ledger.last_runs(c.name, limit=1)
        out.append(
            {
                "connection": c.name,
                "enabled": c.enabled,
                "documents": app.ledger.status_counts(c.name),
                # found in Visma before a first create (an earlier or lost ledger posted them)
                "already_in_visma": len(app.ledger.keys_with_action(c.name, FOUND_IN_VISMA)),
                "open_failures": len(app.ledger.open_failures(c.name)),
                "posting_target": c.posting.target,
                # created in Visma, not released: these block the period's close (per YYYYMM)
                "unreleased": unreleased_by_period(app.ledger, c.name),
                "last_run": dict(runs[0]) if runs else None,
            }
        )
    return out


def failures(app: App, connection: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for f in app.ledger.open_failures(connection):
        record = f.as_dict()
        item = {
            k: record[k]
            for k in (
                "id",
                "connection",
                "doc_key",
                "category",
                "code",
                "reason",
                "visma_answer",
                "created_at",
            )
        }
        item["who_can_fix"] = Category.WHO.get(f.category, "")
        item["missing"] = f.missing
        item["source"] = f.source
        rows.append(item)
    return rows


async def replay_failures(
    app: App, ids: list[int] | None, *, actor: str, connection: str | None = None, post: bool = True
) -> tuple[ReplayResult, list[CycleResult]]:
    """Requeue failures from the stored records, then post them right away (no new download)."""
    total = ReplayResult()
    open_ids = {f.id for f in app.ledger.open_failures(connection)}
    for rt in app.runtimes(connection, actor=actor):
        mine = None if ids is None else [i for i in ids if i in open_ids]
        res = replay(rt, mine, actor=actor)
        total.requeued += res.requeued
        total.files_reread += res.files_reread
        total.refused += [r for r in res.refused if "no open failure with this id" not in r]
    for fid in ids or []:
        if fid not in open_ids:
            total.refused.append(f"{fid}: no open failure with this id")
    cycles: list[CycleResult] = []
    if post and (total.requeued or total.files_reread):
        for rt in app.runtimes(connection, actor=actor):
            cycles.append(await run_cycle(rt, intake_files=False))
    return total, cycles


async def reconcile_period(app: App, period: str, connection: str | None = None) -> dict[str, list[ReconRow]]:
    out: dict[str, list[ReconRow]] = {}
    for rt in app.runtimes(connection):
        async with rt.visma() as visma:
            out[rt.name] = await reconcile(rt, visma, period)
    return out


async def check(app: App, connection: str | None = None) -> list[CheckRow]:
    """Both sides of every enabled connection (or one), concurrently: see ``service.checks``."""
    return await checks.check(app, connection)


async def serve(app: App, *, stop: asyncio.Event | None = None) -> None:
    """Every connection on its own interval until SIGINT/SIGTERM; a running cycle finishes first."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def loop_for(rt: Runtime) -> None:
        while not stop.is_set():
            await run_scheduled(rt, app.ledger)  # vendors first: Stampli codes against the current suppliers
            await coding_lists.run_scheduled(
                rt, app.ledger
            )  # and against Visma's accounts, cost centers, ...
            await run_cycle(rt)
            # Visma's notifications (ml_connector.webhooks) are applied while waiting for the poll.
            await until_next_poll(rt, app.stale, stop, rt.config.poll_interval)

    await asyncio.gather(*(loop_for(rt) for rt in app.runtimes()))


# ---- dashboard queries (issue 7): the web pages, /api and the CLI call these -------------------
