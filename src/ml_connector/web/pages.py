"""Server-rendered pages. Each one calls the same service function as its ``/api`` twin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ml_connector import service
from ml_connector.pipeline.reconcile import totals
from ml_connector.service.accounts import Session, authenticate, end_session, start_session
from ml_connector.web.api import (
    DOC_STATUSES,
    NAME_PATTERN,
    PERIOD_PATTERN,
    TEXT_PATTERN,
    known_connection,
    web,
)
from ml_connector.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    client_address,
    new_login_token,
    require_csrf,
    same_origin,
    session_of,
    set_cookie,
    tokens_match,
)
from ml_connector.web.state import actor_of

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_session(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise LoginRequired(path)
    return session


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    templates = request.app.state.templates
    session = session_of(request)
    base = {
        "session": session,
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "path": request.url.path,
        "now": datetime.now(UTC),
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    return response


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# ---- login ---------------------------------------------------------------------------------------


def _login_page(request: Request, *, next_path: str, error: str | None, status_code: int) -> HTMLResponse:
    token = new_login_token()
    response = render(
        request,
        "login.html",
        {"login_token": token, "next": next_path, "error": error},
        status_code=status_code,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    if session_of(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, next_path=_safe_next(next), error=None, status_code=200)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    if not same_origin(request) or not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token: reload the login page")
    state = web(request)
    client = client_address(request)
    wait = state.limiter.retry_after(username, client)
    if wait:
        response = _login_page(
            request,
            next_path=_safe_next(next),
            error=f"Too many failed logins. Try again in {wait // 60 + 1} minutes.",
            status_code=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate(state.app.ledger, username, password)
    if user is None:
        state.limiter.failed(username, client)
        return _login_page(
            request, next_path=_safe_next(next), error="Wrong user name or password.", status_code=401
        )
    state.limiter.succeeded(username)
    token, _ = start_session(state.app.ledger, user, source=client)
    done = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(done, request, SESSION_COOKIE, token, max_age=8 * 3600)
    clear_cookie(done, request, LOGIN_CSRF_COOKIE)
    return done


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = page_session(request)
    require_csrf(request, session, csrf_token)
    end_session(web(request).app.ledger, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


# ---- pages ---------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request) -> Response:
    page_session(request)
    return render(request, "overview.html", {"connections": service.overview(web(request).app)})


@router.get("/documents", response_class=HTMLResponse)
def documents_page(
    request: Request,
    q: Annotated[str, Query(max_length=200, pattern=TEXT_PATTERN)] = "",
    status: Annotated[str, Query(pattern=DOC_STATUSES + "|^$")] = "",
    connection: Annotated[str, Query(pattern=NAME_PATTERN + "|^$")] = "",
) -> Response:
    page_session(request)
    known_connection(request, connection or None)
    rows = service.search_documents(
        web(request).app, q, connection=connection or None, status=status or None, limit=200
    )
    return render(
        request,
        "documents.html",
        {
            "rows": rows,
            "q": q,
            "status": status,
            "connection": connection,
            "connections": web(request).connection_names(),
        },
    )


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_page(request: Request, doc_id: int) -> Response:
    page_session(request)
    detail = service.document_detail(web(request).app, doc_id) if 0 < doc_id < 2**31 else None
    if detail is None:
        raise HTTPException(status_code=404, detail="no such document")
    return render(request, "document.html", {"doc": detail})


def _failures_page(
    request: Request, result: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    rows = service.failure_list(web(request).app)
    return render(request, "failures.html", {"rows": rows, "result": result}, status_code=status_code)


@router.get("/failures", response_class=HTMLResponse)
def failures_page(request: Request) -> Response:
    page_session(request)
    return _failures_page(request)


@router.post("/failures/replay", response_class=HTMLResponse)
async def replay_page(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    ids: Annotated[list[int] | None, Form()] = None,
    replay_all: Annotated[str, Form(alias="all", max_length=10)] = "",
) -> Response:
    session = page_session(request)
    require_csrf(request, session, csrf_token)
    if not session.user.can_operate:
        raise HTTPException(status_code=403, detail="only an operator may replay failures")
    chosen = [i for i in ids or [] if 0 < i < 2**31]
    if not replay_all and not chosen:
        return _failures_page(request, {"error": "Select at least one failure to replay."}, 422)
    result = await web(request).replay(session, None if replay_all else chosen, None)
    return _failures_page(request, result)


@router.post("/failures/set-aside", response_class=HTMLResponse)
def set_aside_page(
    request: Request,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    session = page_session(request)
    require_csrf(request, session, csrf_token)
    if not session.user.can_operate:
        raise HTTPException(status_code=403, detail="only an operator may set files aside")
    chosen = [i for i in ids or [] if 0 < i < 2**31]
    if not chosen:
        return _failures_page(request, {"error": "Select the rejected files to set aside."}, 422)
    return _failures_page(request, web(request).set_aside(session, chosen))


@router.get("/reconciliation", response_class=HTMLResponse)
async def reconciliation_page(
    request: Request,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN + "|^$")] = "",
    connection: Annotated[str, Query(pattern=NAME_PATTERN + "|^$")] = "",
) -> Response:
    page_session(request)
    known_connection(request, connection or None)
    rows = await web(request).reconcile(period, connection or None) if period else None
    return render(
        request,
        "reconciliation.html",
        {
            "period": period,
            "connection": connection,
            "connections": web(request).connection_names(),
            "rows": rows,
            "totals": totals(rows) if rows is not None else None,
        },
    )


@router.get("/connections", response_class=HTMLResponse)
def connections_page(request: Request) -> Response:
    page_session(request)
    return render(request, "connections.html", {"connections": service.connections(web(request).app)})


@router.post("/connections/{name}/check", response_class=HTMLResponse)
async def check_page(
    request: Request, name: str, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = page_session(request)
    require_csrf(request, session, csrf_token)
    known_connection(request, name)
    await service.run_checks(web(request).app, name, actor=actor_of(session))
    return render(
        request,
        "connections.html",
        {"connections": service.connections(web(request).app), "just_checked": name},
    )
