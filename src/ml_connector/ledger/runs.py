"""Runs: one row per cycle of a connection, with its worker, outcome and counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from ml_connector.ledger.claims import worker_id
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.engine import LedgerBase, inserted_id
from ml_connector.ledger.schema import runs


class RunLog(LedgerBase):
    def start_run(self, connection: str) -> int:
        with self.tx() as conn:
            res = conn.execute(
                runs.insert().values(
                    connection=connection, worker=worker_id(), started_at=utcnow(), status="running"
                )
            )
            return inserted_id(res)

    def finish_run(
        self, run_id: int, *, status: str, stats: Mapping[str, Any], error: str | None = None
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=utcnow(), status=status, stats=dict(stats), error=error)
            )

    def last_runs(self, connection: str | None = None, limit: int = 10) -> list[RowMapping]:
        with self.tx() as conn:
            q = sa.select(runs)
            if connection is not None:
                q = q.where(runs.c.connection == connection)
            return list(conn.execute(q.order_by(runs.c.id.desc()).limit(limit)).mappings())
