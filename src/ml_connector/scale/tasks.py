"""The work of the scaled-out mode as procrastinate tasks over one PostgreSQL database.

Four tasks (procrastinate names ``mlc.tick``, ``mlc.cycle``, ``mlc.post``, ``mlc.refresh``):

``mlc.tick`` (periodic, every few seconds; procrastinate defers each tick once, whatever the number
    of workers): gives back the jobs of workers whose heartbeat stopped (a ``mlc.post`` job goes back
    to the queue, a ``mlc.cycle`` job is closed as failed: the next tick defers a new one), then
    defers ``mlc.cycle`` for every enabled connection whose ``poll_interval`` has passed
    (``scale_schedule``; one queued cycle per connection at most, through a queueing lock).
``mlc.cycle(connection)``: one connection's poll cycle, under a PostgreSQL advisory lock held on
    its own database session, so a connection's cycle never runs twice at the same time; the lock
    dies with the session if the worker is killed. It is ``run_cycle`` (refresh, settle, auto-replay,
    intake) except its last step: the pending documents are not posted here but deferred as
    ``mlc.post`` jobs of ``chunk_size`` documents, which every worker picks up.
``mlc.post(connection, ids)``: ``post_one`` for each document of the chunk that is still pending:
    the ledger claim (compare-and-set ``pending -> posting``) decides who posts it, so a document
    in two chunks, or in a chunk given back after a crash, is still posted once.
``mlc.refresh(connection, entities)``: deferred by a worker's webhook receiver (``[webhooks] port``):
    reads just the notified entities, replays what was parked on them, defers their posting.

A worker killed mid-job leaves (1) documents it claimed: ``posting`` with a dead ``host:pid``, which
the next cycle of that connection settles by looking the reference up in Visma (exactly-once rules
of docs/exactly-once.md), (2) unclaimed documents of its chunk: still ``pending``, posted by the
chunk given back or by the next cycle's chunks, (3) its procrastinate job: given back by the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import exceptions as pexc
from procrastinate.jobs import Status
from procrastinate.types import JSONValue
from sqlalchemy.engine import Connection

from ml_connector import service
from ml_connector.errors import ConfigError, ConnectorError, FatalDestinationError
from ml_connector.ledger.scale_schema import scale_schedule
from ml_connector.ledger.store import DocStatus, utcnow, worker_id
from ml_connector.logs import log_context
from ml_connector.masterdata import schedule as coding_lists
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import PostingStats, post_one
from ml_connector.pipeline.refresh import snapshot
from ml_connector.pipeline.runtime import Runtime
from ml_connector.scale import metrics
from ml_connector.scale.budget import pg_budget_factory
from ml_connector.scale.connections import ConnectionSource
from ml_connector.webhooks.apply import apply_stale

log = logging.getLogger("ml_connector.scale")

TICK = "mlc.tick"
CYCLE = "mlc.cycle"
POST = "mlc.post"
REFRESH = "mlc.refresh"  # Visma notified a change (ml_connector.webhooks): refresh just that entity
CYCLE_PRIORITY = 10  # a cycle (and the tick) before more posting: intake and settling stay timely
INVOICE_PRIORITY = 1  # invoices before payments, as post_pending orders them
PAYMENT_PRIORITY = 0


@dataclass
class ScaleOptions:
    chunk_size: int = 10  # documents per mlc.post job
    tick_seconds: int = 5  # how often the tick runs (a divisor of 60)
    cycle_timeout: float = 3600.0  # a cycle taking longer is cancelled (its claims stay safe)
    stalled_after: float = 30.0  # seconds without a worker heartbeat before its jobs are given back
    heartbeat_interval: float = 5.0


@dataclass
class ScaleState:
    """What the tasks of this worker process work with (set once by ``install``)."""

    app: service.App
    connections: ConnectionSource
    options: ScaleOptions = field(default_factory=ScaleOptions)
    procrastinate_app: procrastinate.App | None = None

    @property
    def engine(self) -> sa.engine.Engine:
        return self.app.ledger.engine

    def runtime(self, name: str) -> Runtime:
        # The configuration reloaded now (file + database rows), passed explicitly: the App stays as loaded.
        rt = self.app.runtime(name, actor=f"worker:{worker_id()}", config=self.connections.current())
        rt.budget_factory = metrics.counting(pg_budget_factory(self.engine), name)
        # rt.token_store is the App's (one per worker process): every job of this worker reuses it.
        return rt


_STATE: ScaleState | None = None


def install(state: ScaleState) -> None:
    global _STATE
    _STATE = state


def current() -> ScaleState:
    if _STATE is None:
        raise RuntimeError("the scaled-out tasks run only inside `ml-connector worker`")
    return _STATE


# ---- the connection lock -----------------------------------------------------------------------


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for one connection's cycle."""
    digest = hashlib.sha256(f"ml-connector cycle {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def connection_lock(state: ScaleState, name: str) -> Iterator[bool]:
    """Hold ``pg_try_advisory_lock`` on a session of its own for the whole block; yields whether
    it was taken. A killed worker's session ends, and PostgreSQL releases the lock with it."""
    with state.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        key = lock_key(name)
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


# ---- tasks -------------------------------------------------------------------------------------


async def tick(timestamp: int) -> dict[str, Any]:
    state = current()
    given_back = await recover_stalled(state)
    due = schedule_due(state)
    deferred = 0
    papp = _papp(state)
    for name in due:
        try:
            await (
                papp.configure_task(CYCLE, queueing_lock=f"cycle:{name}", priority=CYCLE_PRIORITY)
            ).defer_async(connection=name)
            deferred += 1
        except pexc.AlreadyEnqueued:
            pass  # its previous cycle is still waiting for a worker
    metrics.JOBS.labels(TICK, "ok").inc()
    return {"deferred": deferred, "given_back": given_back}


async def cycle(connection: str) -> dict[str, Any]:
    state = current()
    with log_context(connection=connection, worker=worker_id()):
        try:
            rt = state.runtime(connection)
        except ConfigError as exc:  # removed from the configuration since it was deferred
            log.warning("cycle of %s skipped: %s", connection, exc)
            metrics.JOBS.labels(CYCLE, "unknown_connection").inc()
            return {"status": "skipped", "reason": str(exc)}
        with connection_lock(state, connection) as mine:
            if not mine:
                metrics.JOBS.labels(CYCLE, "busy").inc()
                return {"status": "busy"}  # another worker runs this connection's cycle now
            started = time.monotonic()
            await coding_lists.run_scheduled(
                rt, state.app.ledger
            )  # under the lock: one worker writes a list's files
            try:
                result = await asyncio.wait_for(
                    run_cycle(rt, post=dispatch_posting), timeout=state.options.cycle_timeout
                )
            except TimeoutError:
                result = CycleResult(connection, status="failed", errors=["cycle timed out"])
            metrics.CYCLE_SECONDS.labels(connection).observe(time.monotonic() - started)
            metrics.CYCLES.labels(connection, result.status).inc()
            _count(connection, result.posting)
            metrics.JOBS.labels(CYCLE, result.status).inc()
            if result.errors:
                log.warning("cycle of %s: %s: %s", connection, result.status, "; ".join(result.errors))
            return {k: v for k, v in result.summary().items() if k != "errors"} | {"errors": result.errors}


async def post(connection: str, ids: list[int]) -> dict[str, Any]:
    state = current()
    with log_context(connection=connection, worker=worker_id()):
        try:
            rt = state.runtime(connection)
        except ConfigError as exc:
            log.warning("posting of %s skipped: %s", connection, exc)
            return {"status": "skipped"}
        stats = PostingStats()
        md = snapshot(rt.ledger, rt.name, rt.config.visma.company_id)
        outcome = "ok"
        try:
            async with rt.visma() as visma:
                await post_documents(rt, visma, md, ids, stats)
        except FatalDestinationError as exc:
            outcome = "fatal"
            log.error("posting for %s stopped: %s", connection, exc)
        finally:
            _count(connection, stats)
            metrics.JOBS.labels(POST, outcome).inc()
        return {"posted": stats.posted, "parked": stats.parked, "unknown": stats.unknown, "status": outcome}


async def post_documents(
    rt: Runtime, visma: VismaPort, md: MasterData, ids: list[int], stats: PostingStats
) -> None:
    semaphore = asyncio.Semaphore(max(1, rt.post_concurrency))

    async def one(doc_id: int) -> None:
        async with semaphore:
            row = rt.ledger.document_by_id(doc_id)
            if row.status != DocStatus.PENDING or row.connection != rt.name:
                return  # posted, claimed or parked meanwhile
            with log_context(document=row.doc_key):
                await post_one(rt, visma, md, row, stats)
                after = rt.ledger.document_by_id(doc_id)
                log.info("document %s: %s -> %s", row.doc_key, row.status, after.status)

    results = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
    for res in results:
        if isinstance(res, BaseException):
            raise res


def _count(connection: str, stats: PostingStats) -> None:
    if stats.posted:
        metrics.POSTED.labels(connection).inc(stats.posted)
    if stats.parked:
        metrics.PARKED.labels(connection).inc(stats.parked)


async def refresh(connection: str, entities: list[list[str]]) -> dict[str, Any]:
    """``mlc.refresh``: the entities a webhook named, read again; the documents parked on them
    replayed and deferred as ``mlc.post`` jobs. Under the connection's lock, as a cycle: when a
    cycle holds it, the job is deferred again a moment later."""
    state = current()
    with log_context(connection=connection, worker=worker_id()):
        try:
            rt = state.runtime(connection)
        except ConfigError as exc:
            log.warning("refresh of %s skipped: %s", connection, exc)
            return {"status": "skipped"}
        with connection_lock(state, connection) as mine:
            if not mine:
                await (
                    _papp(state).configure_task(REFRESH, priority=CYCLE_PRIORITY, schedule_in={"seconds": 2})
                ).defer_async(connection=connection, entities=[list(e) for e in entities])
                metrics.JOBS.labels(REFRESH, "busy").inc()
                return {"status": "busy"}
            stats = await apply_stale(rt, {(e[0], e[1]) for e in entities}, post=dispatch_posting)
        metrics.JOBS.labels(REFRESH, "ok").inc()
        return {"status": "ok", "auto_replayed": stats.auto_replayed}


async def defer_refresh(connection: str, entity: tuple[str, str]) -> None:
    """What the worker's webhook receiver does with an accepted notice."""
    papp = _papp(current())
    await papp.configure_task(REFRESH, priority=CYCLE_PRIORITY).defer_async(
        connection=connection, entities=[list(entity)]
    )


# ---- the cycle's last step: spread the pending documents over the workers ----------------------


async def dispatch_posting(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    state = current()
    rows = rt.ledger.documents_with_status(rt.name, [DocStatus.PENDING])
    busy = in_flight(state, rt.name)
    todo = [r for r in rows if r.id not in busy]
    todo.sort(key=lambda r: (r.kind != "invoice", r.id))
    size = max(1, state.options.chunk_size)
    papp = _papp(state)
    for kind_is_invoice in (True, False):
        part = [r.id for r in todo if (r.kind == "invoice") is kind_is_invoice]
        priority = INVOICE_PRIORITY if kind_is_invoice else PAYMENT_PRIORITY
        for start in range(0, len(part), size):
            chunk: list[JSONValue] = list(part[start : start + size])
            await papp.configure_task(POST, priority=priority).defer_async(connection=rt.name, ids=chunk)
    if todo:
        log.info("connection %s: %d documents deferred to the workers", rt.name, len(todo))


def in_flight(state: ScaleState, connection: str) -> set[int]:
    """Documents in ``mlc.post`` jobs that are queued, or running on a worker that is alive."""
    q = sa.text(
        """
        SELECT j.args FROM procrastinate_jobs j
        LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
        WHERE j.task_name = :task AND j.args->>'connection' = :conn
          AND (j.status = 'todo'
               OR (j.status = 'doing'
                   AND w.last_heartbeat >= now() - make_interval(secs => :stale)))
        """
    )
    out: set[int] = set()
    with state.engine.connect() as conn:
        for (args,) in conn.execute(
            q, {"task": POST, "conn": connection, "stale": state.options.stalled_after}
        ):
            out.update(int(i) for i in (args or {}).get("ids", []))
    return out


# ---- the tick's two duties ---------------------------------------------------------------------


def schedule_due(state: ScaleState) -> list[str]:
    """Enabled connections whose poll interval has passed; each is pushed to its next due time by
    compare-and-set, so two ticks running at once never both report it."""
    config = state.connections.current()
    now = utcnow()
    due: list[str] = []
    with state.engine.begin() as conn:
        known = {r["connection"]: r for r in conn.execute(sa.select(scale_schedule)).mappings()}
        for c in config.enabled_connections:
            nxt = now + timedelta(seconds=c.poll_interval)
            row = known.get(c.name)
            if row is None:
                if _insert_schedule(conn, c.name, nxt, now):
                    due.append(c.name)
                continue
            if row["next_due"] > now:
                continue
            res = conn.execute(
                scale_schedule.update()
                .where(scale_schedule.c.connection == c.name, scale_schedule.c.next_due == row["next_due"])
                .values(next_due=nxt, last_dispatched=now)
            )
            if res.rowcount == 1:
                due.append(c.name)
    return due


def _insert_schedule(conn: Connection, name: str, nxt: Any, now: Any) -> bool:
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    res = conn.execute(
        pg_insert(scale_schedule)
        .values(connection=name, next_due=nxt, last_dispatched=now)
        .on_conflict_do_nothing(index_elements=["connection"])
    )
    return bool(res.rowcount == 1)


async def recover_stalled(state: ScaleState) -> int:
    """Give back the jobs of workers whose heartbeat stopped (killed, or their machine is gone)."""
    papp = _papp(state)
    manager = papp.job_manager
    n = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=state.options.stalled_after):
        try:
            if job.task_name == POST:
                await manager.retry_job(job)
            elif job.task_name in (CYCLE, TICK, REFRESH):  # the next poll covers a lost refresh
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            else:
                continue
        except (pexc.ProcrastinateException, ConnectorError) as exc:
            log.info("stalled job %s: %s", job.id, exc)  # another tick took it first
            continue
        n += 1
        log.warning("job %s (%s %s) of a stopped worker given back", job.id, job.task_name, job.task_kwargs)
    return n


def _papp(state: ScaleState) -> procrastinate.App:
    if state.procrastinate_app is None:
        raise RuntimeError("procrastinate app not open")
    return state.procrastinate_app


# ---- the procrastinate application -------------------------------------------------------------


def build_app(conninfo: str, options: ScaleOptions | None = None) -> procrastinate.App:
    """The procrastinate app with the three tasks; ``conninfo`` is a libpq URL."""
    opts = options or ScaleOptions()
    if opts.tick_seconds < 1 or 60 % opts.tick_seconds:
        raise ConfigError("the tick must be a divisor of 60 seconds (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)")
    papp = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    papp.periodic(cron=f"* * * * * */{opts.tick_seconds}")(
        papp.task(name=TICK, priority=CYCLE_PRIORITY, pass_context=False)(tick)
    )
    papp.task(name=CYCLE, priority=CYCLE_PRIORITY)(cycle)
    papp.task(name=POST)(post)
    papp.task(name=REFRESH, priority=CYCLE_PRIORITY)(refresh)
    return papp
