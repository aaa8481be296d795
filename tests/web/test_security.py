"""Dashboard security over real HTTP: roles, CSRF, the login rate limit, cookies, headers, and no
secret in any page or API response."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ml_connector.ledger.schema import audit
from ml_connector.ledger.users_schema import users, web_sessions
from ml_connector.web import create_app
from tests.web.conftest import PERIOD, World


def _replays(world: World) -> int:
    with world.app.ledger.tx() as conn:
        q = sa.select(sa.func.count()).where(audit.c.action == "replayed")
        return int(conn.execute(q).scalar_one())


def _open_failure_ids(world: World) -> list[int]:
    return [int(f.id) for f in world.app.ledger.open_failures("acme")]


def test_pages_need_a_login(world: World) -> None:
    web = world.client()
    resp = web.http.get("/failures")
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/failures"
    assert web.http.get("/api/failures").status_code == 401
    assert web.http.get("/api/health").json() == {"status": "ok"}
    web.close()


def test_viewer_can_read_but_not_replay(world: World) -> None:
    web = world.login("viewer")
    ids = _open_failure_ids(world)
    assert ids, "the world starts with parked invoices"
    assert web.http.get("/api/failures").status_code == 200
    page = web.http.get("/failures")
    assert page.status_code == 200 and "Replay selected" not in page.text
    token = web.csrf()
    before = _replays(world)
    api = web.http.post("/api/failures/replay", json={"ids": ids}, headers={"X-CSRF-Token": token})
    assert api.status_code == 403, api.text
    assert "operator" in api.json()["detail"]
    form = web.http.post("/failures/replay", data={"csrf_token": token, "ids": [str(i) for i in ids]})
    assert form.status_code == 403
    assert _replays(world) == before and _open_failure_ids(world) == ids
    web.close()


def test_state_changes_without_csrf_token_are_refused(world: World) -> None:
    web = world.login("operator")
    ids = _open_failure_ids(world)
    before = _replays(world)
    assert web.http.post("/api/failures/replay", json={"ids": ids}).status_code == 403
    wrong = web.http.post("/api/failures/replay", json={"ids": ids}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert web.http.post("/failures/replay", data={"ids": [str(i) for i in ids]}).status_code == 403
    assert web.http.post("/connections/acme/check", data={}).status_code == 403
    assert web.http.post("/api/connections/acme/check").status_code == 403
    assert web.http.post("/logout", data={}).status_code == 403
    # The right token from another site (a cross-site form post) is refused as well.
    token = web.csrf()
    cross = web.http.post(
        "/failures/replay",
        data={"csrf_token": token, "ids": [str(i) for i in ids]},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    # The login form needs its double-submit token too.
    fresh = world.client()
    user = world.users["operator"]
    assert (
        fresh.http.post("/login", data={"username": user.name, "password": user.password}).status_code == 403
    )
    fresh.close()
    assert _replays(world) == before and _open_failure_ids(world) == ids
    # ... and with the token, the same session may log out (the session ends).
    assert web.http.post("/logout", data={"csrf_token": token}).status_code == 303
    assert web.http.get("/api/me").status_code == 401
    web.close()


def test_wrong_passwords_are_rate_limited(world: World) -> None:
    target = world.users["target"]
    web = world.client()
    for _ in range(5):
        resp = web.login(target.name, "not-the-password")
        assert resp.status_code == 401
        assert "Wrong user name or password" in resp.text
    limited = web.login(target.name, "still-not-it")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # Locked out: even the right password waits for the window.
    right = web.login(target.name, target.password)
    assert right.status_code == 429 and "mlc_session" not in web.http.cookies
    # Other users are not locked out by it.
    other = world.login("operator")
    assert other.http.get("/api/me").json()["username"] == "olga"
    other.close()
    web.close()


def test_session_cookie_flags_and_headers(world: World) -> None:
    web = world.client()
    user = world.users["operator"]
    resp = web.login(user.name, user.password)
    cookie = resp.headers["set-cookie"]
    assert "mlc_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    page = web.http.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    # Every asset is local: no src/href to another host.
    for target in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert target.startswith("/"), target
    assert web.http.get("/static/style.css").status_code == 200
    assert web.http.get("/static/app.js").status_code == 200
    assert web.http.get("/api/docs").status_code == 404  # Swagger UI would load from a CDN
    web.close()


def test_session_cookie_is_secure_over_tls(world: World) -> None:
    client = TestClient(create_app(world.app), base_url="https://dashboard.example", follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    user = world.users["viewer"]
    resp = client.post(
        "/login", data={"username": user.name, "password": user.password, "csrf_token": token.group(1)}
    )
    assert resp.status_code == 303
    assert "Secure" in resp.headers["set-cookie"] and "HttpOnly" in resp.headers["set-cookie"]
    assert resp.headers["strict-transport-security"].startswith("max-age=")
    client.close()


def test_no_page_or_api_response_contains_a_secret(world: World) -> None:
    web = world.login("operator")
    token = web.csrf()
    bodies: list[str] = []

    def get(path: str) -> None:
        resp = web.http.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        bodies.append(resp.text)
        bodies.append(str(resp.headers))

    # Run the checks first: they resolve and use every secret of the connection.
    check = web.http.post("/api/connections/acme/check", headers={"X-CSRF-Token": token})
    assert check.status_code == 200 and check.json()["ok"], check.text
    bodies.append(check.text)
    page = web.http.post("/connections/acme/check", data={"csrf_token": token})
    assert page.status_code == 200 and "all ok" in page.text
    bodies.append(page.text)
    for path in ("/", "/documents", "/failures", "/connections", f"/reconciliation?period={PERIOD}"):
        get(path)
    for path in (
        "/api/overview",
        "/api/documents",
        "/api/failures",
        "/api/connections",
        f"/api/reconciliation?period={PERIOD}",
        f"/api/reconciliation.csv?period={PERIOD}",
        "/api/openapi.json",
        "/api/me",
    ):
        get(path)
    for doc in world.app.ledger.all_documents("acme"):
        get(f"/documents/{doc.id}")
        get(f"/api/documents/{doc.id}")
    with world.app.ledger.tx() as conn:
        hashes = [str(h) for (h,) in conn.execute(sa.select(users.c.password_hash))]
        stored_sessions = [str(t) for (t,) in conn.execute(sa.select(web_sessions.c.token_hash))]
    other = world.login("viewer")
    forbidden = {
        **{f"secret {i}": s for i, s in enumerate(world.secret_values)},
        **{f"hash {i}": h.split("$")[-1] for i, h in enumerate(hashes)},
        **{f"session hash {i}": t for i, t in enumerate(stored_sessions)},
        "another user's session": other.session_cookie,
    }
    everything = "\n".join(bodies)
    assert len(everything) > 20_000  # we really looked at pages and documents
    for what, value in forbidden.items():
        assert value not in everything, f"{what} leaked"
    assert "scrypt$" not in everything
    other.close()
    web.close()
