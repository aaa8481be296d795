"""Prometheus metrics of a worker (or of ``serve``'s dashboard): ``/metrics`` and ``/healthz``.

Counters are per process (Prometheus sums them over the workers it scrapes); the backlog is read
from the ledger at scrape time, so every worker reports the same, shared number.

=====================================  ======================================================
``mlc_documents_posted_total``         documents this process brought to ``posted``, by connection
``mlc_documents_parked_total``         documents this process parked, by connection
``mlc_visma_requests_total``           Visma API calls sent (each reserved from the rate budget)
``mlc_visma_throttled_total``          Visma 429 answers
``mlc_cycle_duration_seconds``         poll cycles (histogram), by connection
``mlc_cycles_total``                   poll cycles by connection and status (ok/partial/failed)
``mlc_jobs_total``                     queue jobs run by this process, by task and outcome
``mlc_backlog_documents``              documents not yet done (pending/posting/unknown/created)
``mlc_parked_documents``               documents parked, waiting for a person or master data
``mlc_reading_documents``              documents of files not read to their end (broken off: replay)
=====================================  ======================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from ml_connector.adapters.visma.ratelimit import RateBudget, RateState
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.ledger.schema import documents
from ml_connector.ledger.store import DocStatus

REGISTRY = CollectorRegistry(auto_describe=True)

POSTED = Counter("mlc_documents_posted", "Documents brought to posted.", ["connection"], registry=REGISTRY)
PARKED = Counter("mlc_documents_parked", "Documents parked.", ["connection"], registry=REGISTRY)
VISMA_REQUESTS = Counter(
    "mlc_visma_requests",
    "Visma API calls sent (rate budget reservations).",
    ["connection"],
    registry=REGISTRY,
)
VISMA_THROTTLED = Counter(
    "mlc_visma_throttled", "Visma answers 429 Too Many Requests.", ["connection"], registry=REGISTRY
)
CYCLE_SECONDS = Histogram(
    "mlc_cycle_duration_seconds",
    "Duration of poll cycles.",
    ["connection"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
    registry=REGISTRY,
)
CYCLES = Counter("mlc_cycles", "Poll cycles by result.", ["connection", "status"], registry=REGISTRY)
JOBS = Counter("mlc_jobs", "Queue jobs run by this process.", ["task", "outcome"], registry=REGISTRY)


class BacklogCollector(Collector):
    """Backlog and parked documents per connection, read from the shared ledger at scrape time."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "mlc_backlog_documents",
            "Documents not yet done (pending, posting, unknown, created).",
            labels=["connection"],
        )
        parked = GaugeMetricFamily("mlc_parked_documents", "Documents parked.", labels=["connection"])
        reading = GaugeMetricFamily(
            "mlc_reading_documents",
            "Documents of files not read to their end (never posted until their file is).",
            labels=["connection"],
        )
        q = sa.select(documents.c.connection, documents.c.status, sa.func.count()).group_by(
            documents.c.connection, documents.c.status
        )
        per: dict[str, dict[str, int]] = {}
        if self.engine is not None:
            with self.engine.connect() as conn:
                for connection, status, n in conn.execute(q):
                    per.setdefault(str(connection), {})[str(status)] = int(n)
        for connection, counts in sorted(per.items()):
            backlog.add_metric([connection], sum(counts.get(s, 0) for s in DocStatus.OPEN))
            parked.add_metric([connection], counts.get(DocStatus.PARKED, 0))
            reading.add_metric([connection], counts.get(DocStatus.READING, 0))
        yield backlog
        yield parked
        yield reading


_BACKLOG = BacklogCollector()
REGISTRY.register(_BACKLOG)


def watch_ledger(engine: Engine) -> None:
    """The ledger the backlog gauges are read from (a process serves one; the last one wins)."""
    _BACKLOG.engine = engine


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class CountingBudget:
    """A ``RateBudget`` that counts the calls and 429s of one connection, then defers to ``inner``."""

    def __init__(self, inner: RateBudget, connection: str) -> None:
        self.inner = inner
        self.connection = connection

    async def reserve(self, now: float) -> float:
        VISMA_REQUESTS.labels(self.connection).inc()
        return await self.inner.reserve(now)

    async def observe(self, state: RateState, now: float) -> None:
        await self.inner.observe(state, now)

    async def throttled(self, retry_after: float, now: float) -> None:
        VISMA_THROTTLED.labels(self.connection).inc()
        await self.inner.throttled(retry_after, now)

    def snapshot(self) -> RateState:
        return self.inner.snapshot()


def counting(
    factory: Callable[[VismaSettings], RateBudget], connection: str
) -> Callable[[VismaSettings], RateBudget]:
    def make(settings: VismaSettings) -> RateBudget:
        return CountingBudget(factory(settings), connection)

    return make


def health(
    engine: Engine, started: float, extra: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any]]:
    """``/healthz``: the ledger database answers; how long this process has been up."""
    body: dict[str, Any] = {"uptime_seconds": round(time.time() - started, 1)}
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        body["database"] = "ok"
        ok = True
    except sa.exc.SQLAlchemyError as exc:
        body["database"] = f"unreachable: {exc.__class__.__name__}"
        ok = False
    body.update(extra or {})
    body["status"] = "ok" if ok else "failing"
    return ok, body
