"""The simulator's request and response records, its route table entry and small body helpers.

Handlers are plain functions ``handler(sim, request) -> SimResponse`` grouped by resource in
``sim/visma/routes/`` (Visma's API) and ``sim/visma/control.py`` (``/_sim/``); each module lists
its ``ROUTES`` and ``Simulator`` registers them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, QueryParams
from starlette.routing import compile_path

from ml_connector.sim.visma import jsonio
from ml_connector.sim.visma.errors import SimHTTPError, bad_request

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class SimRequest:
    method: str
    path: str
    query: QueryParams
    headers: Headers
    body: bytes
    path_params: dict[str, str]
    base_url: str

    def json(self) -> Any:
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in {"application/json", "text/json"}:
            raise SimHTTPError(
                415, {"message": f"The simulator accepts application/json bodies, not '{content_type}'."}
            )
        try:
            return jsonio.loads(self.body)
        except ValueError:
            raise bad_request("The request body is not valid JSON.") from None

    def q_str(self, name: str) -> str | None:
        value = self.query.get(name)
        return None if value is None or value == "" else value

    def q_int(self, name: str) -> int | None:
        value = self.q_str(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"Query parameter '{name}' must be an integer.") from None

    def q_bool(self, name: str) -> bool | None:
        value = self.q_str(name)
        if value is None:
            return None
        if value.lower() not in {"true", "false"}:
            raise bad_request(f"Query parameter '{name}' must be true or false.")
        return value.lower() == "true"


@dataclass
class SimResponse:
    status: int
    body: Any = None  # JSON-able (Decimal allowed) or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    drop_connection: bool = False  # commit happened; abort the socket instead of answering


@dataclass(frozen=True)
class Exchange:
    """One request and its response as seen on the wire (for contract validation)."""

    method: str
    path: str
    query_string: str
    request_headers: dict[str, str]
    request_body: bytes
    template: str | None
    status: int | None  # None: the connection was dropped without a response
    response_headers: dict[str, str]
    response_body: bytes


Handler = Callable[[SimRequest], SimResponse]
if TYPE_CHECKING:
    SimHandler = Callable[[Simulator, SimRequest], SimResponse]  # what route modules list
Observer = Callable[[Exchange], None]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    regex: Any = None

    def __post_init__(self) -> None:
        self.regex = compile_path(self.template)[0]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, body, dict(headers or {}))


def sim_body(request: SimRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    body = request.json()
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    return body


def skip_take(items: list[Any], request: SimRequest) -> list[Any]:
    """The deprecated ``skipRecords``/``numberToRead`` of the non-paged list endpoints."""
    skip = request.q_int("skipRecords") or 0
    take = request.q_int("numberToRead")
    items = items[skip:]
    return items if take is None else items[:take]
