"""Sessions, CSRF and the login rate limit of the dashboard.

- The session cookie (``mlc_session``) is HttpOnly, SameSite=Strict, Path=/, and Secure whenever the
  request came in over TLS (directly, or via a trusted proxy's X-Forwarded-Proto).
- Every state-changing request carries the session's CSRF token: the ``csrf_token`` form field on
  pages, the ``X-CSRF-Token`` header on ``/api``. The login form, which has no session yet, uses a
  double-submit token (a cookie and the same value in the form). A cross-site ``Origin`` is refused.
- Failed logins are counted per user name and per client address in a sliding window; past the
  limit every attempt (right or wrong) is answered 429 until the window has moved on.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

from ml_connector.service.accounts import Session, load_session

SESSION_COOKIE = "mlc_session"
LOGIN_CSRF_COOKIE = "mlc_login_csrf"
CSRF_HEADER = "X-CSRF-Token"


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_tls(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=is_tls(request))


def session_of(request: Request) -> Session | None:
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    web = request.app.state.web
    session = load_session(web.app.ledger, request.cookies.get(SESSION_COOKIE))
    request.state.session = session
    return session


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def require_csrf(request: Request, session: Session, given: str | None) -> None:
    if not same_origin(request) or not tokens_match(session.csrf_token, given):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class LoginLimiter:
    """At most ``per_user`` failed logins per user name and ``per_client`` per client address within
    ``window`` seconds; past that, logins are refused (429) until old failures leave the window."""

    per_user: int = 5
    per_client: int = 20
    window: float = 900.0
    clock: Callable[[], float] = field(default=time.monotonic)
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _now(self) -> float:
        return float(self.clock())

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until a login may be tried again; 0 when it may be tried now."""
        now = self._now()
        with self._lock:
            waits = []
            for key, limit in ((f"u:{username.lower()}", self.per_user), (f"c:{client}", self.per_client)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    waits.append(q[len(q) - limit] + self.window - now)
            return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, username: str, client: str) -> None:
        now = self._now()
        with self._lock:
            for key in (f"u:{username.lower()}", f"c:{client}"):
                self._recent(key, now).append(now)
            if len(self._fails) > 10_000:  # forget idle keys
                for key in [k for k, q in self._fails.items() if not q]:
                    del self._fails[key]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(f"u:{username.lower()}", None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
