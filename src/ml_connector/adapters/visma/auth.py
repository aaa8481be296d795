"""OAuth 2.0 client credentials against Visma Connect, with a cached token.

One token is shared by every request of a client. It is renewed ``leeway`` seconds before it
expires (at most half its lifetime), and once more when the API answers 401 (the client calls
``invalidate`` with the token that was refused, so concurrent callers renew only once).
A ``TokenStore`` lets the clients of one process share it beyond one client's life (the
scaled-out workers: one token per worker process and Visma client identity, reused across jobs).
The token and the client secret never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2

from ml_connector.adapters.visma.classify import classify_exception, classify_response, visma_message
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.errors import FatalDestinationError

log = logging.getLogger("ml_connector.visma.auth")


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str = field(repr=False)
    expires_in: float
    renew_at: float  # clock time after which the token is renewed before use


class TokenSlot:
    """Where a token is kept: one client's own, or one of a ``TokenStore`` shared by many clients.
    The lock that makes concurrent callers fetch once is per event loop (an asyncio lock is bound
    to the loop that first waits on it; a process may run several loops one after another)."""

    def __init__(self) -> None:
        self.token: AccessToken | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        state = "none" if self.token is None else f"renew_at={self.token.renew_at:.0f}"
        return f"TokenSlot(token={state})"

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


class TokenStore:
    """One token per Visma client identity for a whole process, reused by every client built
    with it: token endpoint, tenant, company and client id, and a digest of the secret (a rotated
    secret gets a token of its own). Never shared across companies, even of one tenant."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, ...], TokenSlot] = {}

    def __repr__(self) -> str:
        return f"TokenStore({len(self._slots)} identities)"

    def __len__(self) -> int:
        return len(self._slots)

    def slot(self, settings: VismaSettings) -> TokenSlot:
        secret = hashlib.sha256(settings.client_secret.encode()).hexdigest()
        key = (
            settings.token_url,
            settings.tenant_id,
            settings.company_id,
            settings.client_id,
            " ".join(settings.scopes),
            secret,
        )
        return self._slots.setdefault(key, TokenSlot())


class TokenCache:
    """One client's view of its token: fetched with the client's own HTTP connection, kept in its
    own slot or in a ``TokenStore``'s (``slot``)."""

    def __init__(
        self,
        settings: VismaSettings,
        http: httpx2.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[], None] | None = None,
        slot: TokenSlot | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._on_fetch = on_fetch
        self._slot = slot if slot is not None else TokenSlot()
        self.fetches = 0

    def __repr__(self) -> str:
        token = self._slot.token
        state = "none" if token is None else f"renew_at={token.renew_at:.0f}"
        return f"TokenCache(client_id={self._settings.client_id!r}, token={state})"

    @property
    def current(self) -> str | None:
        """The cached token (for redaction only)."""
        token = self._slot.token
        return token.value if token else None

    async def get(self) -> str:
        slot = self._slot
        token = slot.token
        if token is not None and self._clock() < token.renew_at:
            return token.value
        async with slot.lock():
            token = slot.token
            if token is None or self._clock() >= token.renew_at:
                token = slot.token = await self._fetch()
            return token.value

    def invalidate(self, refused: str) -> None:
        """Forget the token if it is still the one the API refused."""
        slot = self._slot
        if slot.token is not None and slot.token.value == refused:
            slot.token = None

    async def _fetch(self) -> AccessToken:
        s = self._settings
        form = {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "tenant_id": s.tenant_id,
            "scope": " ".join(s.scopes),
        }
        self.fetches += 1
        if self._on_fetch:
            self._on_fetch()
        started = self._clock()
        try:
            response = await self._http.post(s.token_url, data=form, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise classify_exception(exc, what="token request") from None
        secrets = (s.client_secret,)
        status = response.status_code
        if status >= 400:
            transient = classify_response(response, secrets=secrets)
            if transient is not None and (status in (408, 429) or status >= 500):
                raise transient
            message, code = visma_message(response, secrets)
            raise FatalDestinationError(
                f"Visma Connect refused the client credentials ({response.status_code}"
                f"{' ' + code if code else ''}){': ' + message if message else ''}",
                status=response.status_code,
                visma_message=message,
                context={"code": code} if code else None,
            )
        try:
            body = response.json()
            value = body["access_token"]
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise FatalDestinationError(
                "Visma Connect answered without a usable access_token", status=response.status_code
            ) from None
        if not isinstance(value, str) or not value:
            raise FatalDestinationError("Visma Connect answered with an empty access_token")
        token_type = str(body.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            raise FatalDestinationError(f"Visma Connect issued a {token_type!r} token, not a Bearer token")
        leeway = min(s.token_leeway, expires_in / 2)
        log.info("visma token obtained; expires in %.0fs", expires_in)
        return AccessToken(value=value, expires_in=expires_in, renew_at=started + expires_in - leeway)
