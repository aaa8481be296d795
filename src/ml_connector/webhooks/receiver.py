"""The endpoint Visma posts notifications to. It answers at once: the refresh happens after the
response, in the loop of ``serve`` (``webhooks.apply``).

Checks, in this order, each refusal logged (never the key or the signature):
1. the signature (HMAC-SHA256 of the raw body, base64) with the configured key, in constant time;
   nothing of an unsigned body is read;
2. the body is a notice we understand;
3. its timestamp, when it has one, is within ``max_age`` seconds of our clock;
4. its tenant (and company, when given) is a connection of ours;
5. it was not seen before (by notice id, else the body's hash): a replay changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector.config.model import ConnectionConfig, WebhooksConfig
from ml_connector.webhooks.notice import Entity, NoticeError, parse
from ml_connector.webhooks.signature import verify

log = logging.getLogger("ml_connector.webhooks")

MAX_BODY = 64 * 1024  # a thin notice is a few hundred bytes
SEEN_LIMIT = 100_000  # notice ids remembered for replay detection (oldest forgotten first)
SEEN_SECONDS = 86_400.0

#: what an accepted notice does for one connection: ``serve`` marks the entity stale in memory, the
#: scaled-out worker defers a refresh job
Mark = Callable[[str, Entity], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    status: int
    result: str  # accepted | ignored | duplicate | refused
    detail: str
    connections: tuple[str, ...] = ()
    entity: Entity | None = None  # to refresh for each of ``connections``
    seen_key: str = ""  # forgotten again when the notice could not be applied


class Receiver:
    def __init__(
        self,
        config: WebhooksConfig,
        key: str,
        connections: Callable[[], Sequence[ConnectionConfig]],
        mark: Mark,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._key = key
        self._connections = connections
        self._mark = mark
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def route(self) -> Route:
        return Route(self.config.path, self.endpoint, methods=["POST"])

    async def endpoint(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        body = await _read_capped(request)
        if body is None:
            outcome = self._refuse(413, f"body over {MAX_BODY} bytes", client)
        else:
            outcome = self.accept(body, request.headers.get(self.config.signature_header), client=client)
        if outcome.entity is not None:
            try:
                for name in outcome.connections:
                    await self._mark(name, outcome.entity)
            except Exception as exc:  # e.g. the queue's database is down: the poll will cover it
                log.error("webhook notice not applied: %s: %s", type(exc).__name__, exc)
                self._seen.pop(outcome.seen_key, None)  # a resend may succeed
                outcome = Outcome(503, "refused", "not applied now; try again")
        return JSONResponse({"result": outcome.result, "detail": outcome.detail}, status_code=outcome.status)

    def accept(self, body: bytes, signature: str | None, *, client: str = "?") -> Outcome:
        if not verify(self._key, body, signature):
            why = "signature missing" if not signature else "signature does not match"
            return self._refuse(401, why, client)
        try:
            notice = parse(body)
        except NoticeError as exc:
            return self._refuse(400, f"not a notice we understand: {exc}", client)
        now = self._clock()
        if notice.timestamp is not None:
            age = now - notice.timestamp.timestamp()
            if abs(age) > self.config.max_age:
                return self._refuse(
                    401,
                    f"notice {notice.id}: timestamp {notice.timestamp:%Y-%m-%dT%H:%M:%SZ} is "
                    f"{int(age)} s from our clock (limit {self.config.max_age} s)",
                    client,
                )
        names = tuple(
            c.name
            for c in self._connections()
            if c.enabled
            and c.visma.tenant_id == notice.tenant_id
            and (notice.company_id is None or c.visma.company_id == notice.company_id)
        )
        if not names:
            return self._refuse(
                403,
                f"notice {notice.id}: unknown tenant {notice.tenant_id!r} / company {notice.company_id!r}",
                client,
            )
        seen_key = f"{notice.tenant_id}:{notice.id}"
        self._forget_old(now)
        if seen_key in self._seen:
            log.warning("webhook from %s ignored: notice %s was already received (replay)", client, notice.id)
            return Outcome(200, "duplicate", "already received", names)
        self._seen[seen_key] = now
        if notice.entity is None:
            log.info("webhook notice %s (%s) ignored: not an entity we cache", notice.id, notice.event)
            return Outcome(202, "ignored", "not an entity we cache", names)
        log.info(
            "webhook notice %s (%s): %s %s changed for %s",
            notice.id,
            notice.event,
            *notice.entity,
            ", ".join(names),
        )
        return Outcome(
            202, "accepted", f"{notice.entity[0]} {notice.entity[1]}", names, notice.entity, seen_key
        )

    def _refuse(self, status: int, why: str, client: str) -> Outcome:
        log.warning("webhook from %s refused: %s", client, why)
        return Outcome(status, "refused", why)

    def _forget_old(self, now: float) -> None:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= SEEN_SECONDS and len(self._seen) < SEEN_LIMIT:
                return
            del self._seen[oldest]


async def _read_capped(request: Request) -> bytes | None:
    """The raw body, or None once it grows past ``MAX_BODY`` (never read whole into memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)
