"""What the dashboard's routes share: the open service ``App``, the login limiter and thin
adapters from service results to response shapes (no business rules here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_connector import service
from ml_connector.pipeline.reconcile import ReconRow
from ml_connector.redaction import redact
from ml_connector.service.accounts import Session
from ml_connector.web.security import LoginLimiter


def actor_of(session: Session) -> str:
    return f"web:{session.user.username}"


@dataclass
class WebState:
    app: service.App
    limiter: LoginLimiter = field(default_factory=LoginLimiter)

    def connection_names(self) -> list[str]:
        return [c.name for c in self.app.config.connections]

    async def replay(self, session: Session, ids: list[int] | None, connection: str | None) -> dict[str, Any]:
        actor = actor_of(session)
        result, cycles = await service.replay_failures(self.app, ids, actor=actor, connection=connection)
        return {
            "actor": actor,
            "requeued": result.requeued,
            "files_reread": result.files_reread,
            "refused": [redact(r) for r in result.refused],
            "cycles": [
                {
                    "connection": c.connection,
                    "status": c.status,
                    "posted": c.posting.posted,
                    "parked": c.posting.parked,
                    "errors": [redact(e) for e in c.errors],
                }
                for c in cycles
            ],
        }

    def set_aside(self, session: Session, ids: list[int]) -> dict[str, Any]:
        from ml_connector.service.set_aside import set_aside_failures

        actor = actor_of(session)
        result = set_aside_failures(self.app, ids, actor=actor)
        return {"actor": actor, "set_aside": result.files, "refused": [redact(r) for r in result.refused]}

    async def reconcile(self, period: str, connection: str | None) -> list[ReconRow]:
        by_conn = await service.reconcile_period(self.app, period, connection)
        return [r for rows in by_conn.values() for r in rows]
