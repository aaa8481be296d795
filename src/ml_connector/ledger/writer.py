"""The ledger's writer thread: the posting path's database work off the event loop, with many
documents sharing one commit (group commit).

Every posted document needs a durable record before its create is sent (the claim) and after the
outcome. With ``synchronous=FULL`` each commit is an fsync; run on the event loop, each one stalled
every document in flight, so concurrency stopped paying at about 25-30 documents/s. Here the
coroutines of the posting path hand their ledger work (``op(conn) -> result``) to one thread, which
takes whatever has queued up meanwhile and runs it in **one** transaction, then commits once and
only then hands each coroutine its result. So:

- nothing a coroutine awaits is answered before it is durable (the commit returned): the order of
  effects of one document is exactly what it was with a transaction of its own;
- each op is still its own compare-and-set (``UPDATE ... WHERE status = old``); ops of one batch run
  one after another and see each other's writes, so two coroutines can never both claim a document;
- an op that raises (or a commit that fails, e.g. a PostgreSQL deadlock between two workers'
  batches) rolls the whole batch back, and then every op of it runs again alone in its own
  transaction: one bad op never takes the others' results with it, and no result is ever handed
  out for work that was rolled back.

An in-memory SQLite database exists once per connection, so there the ops run inline instead.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from ml_connector.errors import LedgerError
from ml_connector.ledger.transaction import transaction

T = TypeVar("T")
Op = Callable[[Connection], Any]
MAX_BATCH = 64  # ops per commit: enough for any post_concurrency in use, bounded lock time


class LedgerWriter:
    """One thread, one transaction per batch of queued ops; ``await writer.run(op)``."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Op, Future[Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        database = engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        self.inline = engine.dialect.name == "sqlite" and in_memory
        self.commits = 0  # batches committed (the benchmark reports ops per commit)
        self.ops = 0

    async def run(self, op: Callable[[Connection], T]) -> T:
        """``op(conn)`` in the writer thread; returns once its transaction has committed."""
        if self.inline:
            with transaction(self.engine) as conn:
                return op(conn)
        result: T = await asyncio.wrap_future(self.submit(op))
        return result

    def submit(self, op: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise LedgerError("the ledger is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ledger-writer", daemon=True)
                self._thread.start()
            self._queue.put((op, future))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list[tuple[Op, Future[Any]]]) -> None:
        live = [(op, fut) for op, fut in batch if fut.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with transaction(self.engine) as conn:
                results = [op(conn) for op, _ in live]
        except BaseException as exc:  # rolled back: handed out, or each op again alone
            if len(live) == 1:
                live[0][1].set_exception(exc)
            else:
                for op, fut in live:
                    self._run_alone(op, fut)
            return
        self.commits += 1
        self.ops += len(live)
        for (_, fut), result in zip(live, results, strict=True):
            fut.set_result(result)

    def _run_alone(self, op: Op, fut: Future[Any]) -> None:
        try:
            with transaction(self.engine) as conn:
                result = op(conn)
        except BaseException as exc:  # handed to the awaiting coroutine
            fut.set_exception(exc)
            return
        self.commits += 1
        self.ops += 1
        fut.set_result(result)
