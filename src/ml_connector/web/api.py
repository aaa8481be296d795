"""``/api``: the JSON face of the same service functions the pages and the CLI use.

Authentication is the dashboard session cookie (log in on ``/login``); every POST needs the
session's CSRF token in ``X-CSRF-Token`` (``GET /api/me`` returns it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.responses import Response

from ml_connector import service
from ml_connector.pipeline.reconcile import to_csv, totals
from ml_connector.service.accounts import Session
from ml_connector.web import models
from ml_connector.web.security import CSRF_HEADER, require_csrf, session_of
from ml_connector.web.state import WebState, actor_of

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
DOC_STATUSES = r"^(reading|pending|posting|unknown|created|posted|parked|skipped)$"  # DocStatus.ALL

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.Problem, "description": "Malformed request body"},
    401: {"model": models.Problem, "description": "Not logged in"},
    403: {"model": models.Problem, "description": "Missing CSRF token, or the role does not allow it"},
    422: {"model": models.Problem, "description": "Invalid parameters"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": models.Problem, "description": "Not found"}}
UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: {"model": models.Problem, "description": "Stampli's SFTP server or Visma did not answer as expected"}
}

router = APIRouter(prefix="/api", responses=ERRORS)

ConnectionQ = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only this connection (its name)")
]
CsrfHeader = Annotated[str | None, Header(alias=CSRF_HEADER, description="The session's CSRF token")]


def web(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def logged_in(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        raise HTTPException(status_code=401, detail="log in first (POST /login)")
    return session


def operator(request: Request, csrf: str | None) -> Session:
    session = logged_in(request)
    require_csrf(request, session, csrf)
    if not session.user.can_operate:
        raise HTTPException(status_code=403, detail="only an operator may do this")
    return session


def known_connection(request: Request, name: str | None) -> str | None:
    if name is not None and name not in web(request).connection_names():
        raise HTTPException(status_code=404, detail=f"no connection named {name!r}")
    return name


@router.get("/health", response_model=models.Health200)
def health() -> dict[str, str]:
    """Liveness of the dashboard process (no login needed, says nothing else)."""
    return {"status": "ok"}


@router.get("/me", response_model=models.Me)
def me(request: Request) -> dict[str, Any]:
    session = logged_in(request)
    return {
        "username": session.user.username,
        "role": session.user.role,
        "can_operate": session.user.can_operate,
        "csrf_token": session.csrf_token,
    }


@router.get("/overview", response_model=list[models.ConnectionOverview])
def overview(
    request: Request, days: Annotated[int, Query(ge=1, le=92, description="Days in the chart")] = 14
) -> list[dict[str, Any]]:
    logged_in(request)
    return service.overview(web(request).app, days)


@router.get("/documents", response_model=list[models.DocumentSummary], responses=NOT_FOUND)
def documents(
    request: Request,
    q: Annotated[
        str, Query(max_length=200, pattern=TEXT_PATTERN, description="Vendor, invoice number or Stampli id")
    ] = "",
    status: Annotated[str | None, Query(pattern=DOC_STATUSES)] = None,
    connection: ConnectionQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    logged_in(request)
    known_connection(request, connection)
    return service.search_documents(web(request).app, q, connection=connection, status=status, limit=limit)


@router.get("/documents/{doc_id}", response_model=models.DocumentDetail, responses=NOT_FOUND)
def document(request: Request, doc_id: Annotated[int, Path(ge=1, le=2**31)]) -> dict[str, Any]:
    logged_in(request)
    detail = service.document_detail(web(request).app, doc_id)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such document")
    return detail


@router.get("/failures", response_model=list[models.Failure], responses=NOT_FOUND)
def failures(request: Request, connection: ConnectionQ = None) -> list[dict[str, Any]]:
    logged_in(request)
    known_connection(request, connection)
    return service.failure_list(web(request).app, connection)


@router.post("/failures/replay", response_model=models.ReplayResponse, responses={**NOT_FOUND, **UPSTREAM})
async def replay(
    request: Request, body: models.ReplayRequest, csrf: CsrfHeader = None, connection: ConnectionQ = None
) -> dict[str, Any]:
    """Put failures back from the stored records and post them now (operators only; audited with
    the user's name)."""
    session = operator(request, csrf)
    known_connection(request, connection)
    return await web(request).replay(session, None if body.all else body.ids, connection)


@router.get("/reconciliation", response_model=models.Reconciliation, responses={**NOT_FOUND, **UPSTREAM})
async def reconciliation(
    request: Request,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="YYYY-MM")],
    connection: ConnectionQ = None,
) -> dict[str, Any]:
    logged_in(request)
    known_connection(request, connection)
    rows = await web(request).reconcile(period, connection)
    return {"period": period, "totals": totals(rows), "documents": [r.__dict__ for r in rows]}


@router.get(
    "/reconciliation.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per document"},
        **NOT_FOUND,
        **UPSTREAM,
    },
)
async def reconciliation_csv(
    request: Request,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="YYYY-MM")],
    connection: ConnectionQ = None,
) -> Response:
    logged_in(request)
    known_connection(request, connection)
    rows = await web(request).reconcile(period, connection)
    name = f"reconciliation-{period}{'-' + connection if connection else ''}.csv"
    return Response(
        to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/connections", response_model=list[models.ConnectionInfo])
def connections(request: Request) -> list[dict[str, Any]]:
    logged_in(request)
    return service.connections(web(request).app)


@router.post("/connections/{name}/check", response_model=models.CheckResult, responses=NOT_FOUND)
async def check(
    request: Request, name: Annotated[str, Path(pattern=NAME_PATTERN)], csrf: CsrfHeader = None
) -> dict[str, Any]:
    """Ping both sides (SFTP login with the pinned host key and a listing; Visma token, one read and
    the rate budget). Any logged-in user may; it changes nothing but is audited."""
    session = logged_in(request)
    require_csrf(request, session, csrf)
    known_connection(request, name)
    result = await service.run_checks(web(request).app, name, actor=actor_of(session))
    return result[name]
