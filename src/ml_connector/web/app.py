"""The dashboard's FastAPI application: pages, ``/api`` (+ OpenAPI), local static assets only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from ml_connector import __version__, service
from ml_connector.errors import ConnectorError
from ml_connector.redaction import redact
from ml_connector.web import api, pages
from ml_connector.web.security import session_of
from ml_connector.web.state import WebState

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class RedactedJSONResponse(JSONResponse):
    """JSON with every secret value the process knows replaced by ``***`` (a safety net)."""

    def render(self, content: Any) -> bytes:
        return redact(super().render(content).decode("utf-8")).encode("utf-8")


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(redact(str(value)))  # noqa: S704  (already escaped; only secrets become ***)
    if isinstance(value, str):
        return redact(value)
    return value


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        finalize=_finalize,
    )
    env.filters["dt"] = lambda v: v.strftime("%Y-%m-%d %H:%M UTC") if v else "—"
    # Readable JSON (Nordic letters as they are); autoescape makes it safe in <pre>.
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    return Jinja2Templates(env=env)


def _add_probes(web: FastAPI, application: service.App) -> None:
    """``/metrics`` (Prometheus text) and ``/healthz`` for scrapers and load balancers: no login,
    no secrets (counts per connection name only); outside the API schema."""
    import asyncio
    import time

    from ml_connector.scale import metrics

    started = time.time()
    metrics.watch_ledger(application.ledger.engine)

    @web.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=content_type)

    @web.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        ok, body = await asyncio.to_thread(metrics.health, application.ledger.engine, started)
        return JSONResponse(body, status_code=200 if ok else 503)


def create_app(application: service.App) -> FastAPI:
    web = FastAPI(
        title="ml-connector dashboard API",
        version=__version__,
        description="What posted, what is stuck and why, replays and reconciliation. Log in on /login.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN: not served
        redoc_url=None,
        default_response_class=RedactedJSONResponse,
    )
    web.state.web = WebState(application)
    web.state.templates = _templates()
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    web.include_router(api.router)
    web.include_router(pages.router)
    _add_probes(web, application)
    receiver = application.webhooks
    if receiver is not None and receiver.config.port is None:
        web.router.routes.append(receiver.route())  # signed by Visma: no login, no CSRF token

    @web.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api")

    @web.exception_handler(pages.LoginRequired)
    async def login_required(request: Request, exc: pages.LoginRequired) -> Response:
        from urllib.parse import quote

        return RedirectResponse("/login?next=" + quote(exc.next_path, safe="/"), status_code=303)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_json(request) or exc.status_code == 405:
            return RedactedJSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return _error_page(request, exc.status_code, str(exc.detail))

    @web.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        if wants_json(request):
            return RedactedJSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)
        return _error_page(request, 422, text)

    @web.exception_handler(ConnectorError)
    async def upstream(request: Request, exc: ConnectorError) -> Response:
        message = redact(str(exc))
        if wants_json(request):
            return RedactedJSONResponse({"detail": message}, status_code=502)
        return _error_page(request, 502, message)

    return web


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    session = session_of(request) if status != 401 else None
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "session": session,
            "user": session.user if session else None,
            "csrf_token": session.csrf_token if session else "",
            "path": request.url.path,
        },
        status_code=status,
    )
    return response
