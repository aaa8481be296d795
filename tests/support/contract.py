"""Contract validation of Visma traffic against the Visma OpenAPI files, with openapi-core.

Every exchange the simulator serves in a test (the client's request and the simulator's response) is
checked against the per-resource OpenAPI files in ``../shared/visma-openapi`` (override the folder with
``ML_CONNECTOR_VISMA_OPENAPI_DIR``). Those files are third-party data and are never copied into this
repository. If the folder is missing, :func:`load_validator` fails the test loudly; it never skips.

What is checked
  * request: path, method, path/query/header parameters, body against the ``*UpdateDto`` schema with
    **additional properties forbidden** (a misspelt or invented field is drift), plus query parameters
    the operation does not declare (openapi-core ignores those; we do not);
  * response: status declared by the operation, body against the read DTO, again with additional
    properties forbidden.

Deliberate relaxations (each one is a documented gap between the spec and the real service):
  * ``format: date-time`` accepts ISO-8601 without an offset (``2024-02-12T13:37:00.533``). Visma
    returns and accepts company-local times without an offset (visma-api.md §4), which strict RFC 3339
    would reject.
  * 201/204/412 with an empty body where the spec declares content: the real service sends no body
    (visma-api.md §3.2, S3 commits "Remove response schema from 201 status").
  * error statuses the spec does not declare (400, 401, 404, 429, 5xx ...): the spec declares no error
    responses (visma-api.md §6). They are counted in ``undeclared_errors`` and their body must be JSON
    in one of the two documented error shapes.
  * :data:`KNOWN_SPEC_GAPS`: specific success statuses missing from the spec.

The files declare ``openapi: 3.2.0``; openapi-core 0.23 validates 3.2 natively, so they are used as they
are. (Older openapi-core releases rejected 3.2; if the installed one does, :func:`_load_spec` presents
the document as 3.1.0, which has the same Schema Object dialect for everything these files use.)

Paths with no OpenAPI file are listed in :data:`UNCOVERED` and counted, never silently ignored.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from ml_connector.sim.visma import Exchange

OPENAPI_DIR_ENV = "ML_CONNECTOR_VISMA_OPENAPI_DIR"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_OPENAPI_DIR = REPO.parent / "shared" / "visma-openapi"
SPEC_HOST = "https://api.finance.visma.net"

#: (path prefix, why there is no contract). Exchanges on these paths are counted in ``uncovered``.
UNCOVERED: tuple[tuple[str, str], ...] = (
    ("/connect/token", "Visma Connect OAuth2 token endpoint; not part of the ERP OpenAPI files"),
    (
        "/v1/subaccount",
        "no subaccount OpenAPI file in ../shared/visma-openapi; visma-api.md §4.3 documents it from S3",
    ),
    ("/_sim/", "simulator test endpoints; not part of the Visma API"),
    # Coding-list export (issue 17): in api-evangelist/visma (visma-vat-api-openapi.yml,
    # visma-creditterm-api-openapi.yml) but not in ../shared/visma-openapi; to move into the contract.
    ("/v1/vat", "GET /v1/vat (VatInformationDto array): no OpenAPI file in ../shared/visma-openapi"),
    ("/v1/creditTerm", "GET /v1/creditTerm (BasePaginationDtoOfCreditTermDto): not in ../shared"),
)

#: (method, path template, status) the spec omits although the service returns it.
KNOWN_SPEC_GAPS: dict[tuple[str, str, int], str] = {
    ("POST", "/v2/journaltransaction/{journalTransactionNumber}/action/release", 200): (
        "spec declares only 412/202; the service answers 200 with an action result "
        "(S3 ReleaseJournalTransactionActionResultDto, visma-api.md §4.1)"
    ),
}

UNDECLARED_ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 415, 429, 500, 502, 503, 504})
EMPTY_BODY_STATUSES = frozenset({201, 204, 412})

_ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$")


def _iso_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not _ISO_DT.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Violation:
    kind: str  # request | response | unknown-path | undeclared-status | error-body
    method: str
    path: str
    status: int | None
    detail: str

    def __str__(self) -> str:
        status = "" if self.status is None else f" -> {self.status}"
        return f"[{self.kind}] {self.method} {self.path}{status}: {self.detail}"


@dataclass
class _Operation:
    template: str
    method: str
    regex: re.Pattern[str]
    literal_len: int
    param_count: int
    api: OpenAPI
    query_params: frozenset[str]
    responses: frozenset[str]
    source: str


def openapi_dir() -> Path:
    return Path(os.environ.get(OPENAPI_DIR_ENV) or DEFAULT_OPENAPI_DIR)


def _load_spec(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506  (a safe loader)
    if not isinstance(spec, dict) or "paths" not in spec:
        raise ValueError(f"{path} is not an OpenAPI document")
    return spec


def _openapi(spec: dict[str, Any], *, check_spec: bool = False) -> OpenAPI:
    """An openapi-core ``OpenAPI`` for one file.

    Checking the document itself (openapi-spec-validator) costs ~5 s for the eleven files, so it is off
    here and done once by tests/visma/test_sim_contract.py instead.
    """
    no_check: Any = None  # openapi-core: ``spec_validator_cls=None`` skips checking the document
    config = Config(
        additional_properties_default_policy="forbid",
        extra_format_validators={"date-time": _iso_datetime},
        spec_validator_cls=Config.spec_validator_cls if check_spec else no_check,
    )
    try:
        return OpenAPI.from_dict(spec, config=config)
    except Exception:
        if str(spec.get("openapi", "")).startswith("3.2"):
            # see the module docstring: present a 3.2 document as 3.1 to an openapi-core without 3.2
            return OpenAPI.from_dict({**spec, "openapi": "3.1.0"}, config=config)
        raise


def _template_regex(template: str) -> tuple[re.Pattern[str], int, int]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    literal = sum(len(p) for p in parts if not p.startswith("{"))
    params = sum(1 for p in parts if p.startswith("{"))
    return re.compile(f"^{pattern}$"), literal, params


class ContractValidator:
    """Checks :class:`Exchange` objects; collects violations and coverage counters."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        files = sorted(directory.glob("*.yml")) + sorted(directory.glob("*.yaml"))
        if not files:
            raise FileNotFoundError(f"no OpenAPI files (*.yml) in {directory}")
        self.files = [f.name for f in files]
        self.operations: list[_Operation] = []
        for file in files:
            spec = _load_spec(file)
            api = _openapi(spec)
            for template, item in spec["paths"].items():
                shared = item.get("parameters", [])
                regex, literal, count = _template_regex(template)
                for method, op in item.items():
                    if method not in {"get", "put", "post", "delete", "patch"}:
                        continue
                    params = [*shared, *op.get("parameters", [])]
                    self.operations.append(
                        _Operation(
                            template=template,
                            method=method.upper(),
                            regex=regex,
                            literal_len=literal,
                            param_count=count,
                            api=api,
                            query_params=frozenset(p["name"] for p in params if p.get("in") == "query"),
                            responses=frozenset(str(s) for s in op.get("responses", {})),
                            source=file.name,
                        )
                    )
        self.lock = threading.Lock()
        self.checked = 0
        self.uncovered: Counter[str] = Counter()
        self.undeclared_errors: Counter[str] = Counter()
        self.known_gaps: Counter[str] = Counter()
        self.operations_seen: Counter[str] = Counter()

    # ------------------------------------------------------------------ lookup

    def find(self, method: str, path: str) -> tuple[_Operation | None, bool]:
        """(operation, path_in_spec)."""
        candidates = [op for op in self.operations if op.regex.match(path)]
        if not candidates:
            return None, False
        same_method = [op for op in candidates if op.method == method]
        if not same_method:
            return None, True
        same_method.sort(key=lambda op: (op.param_count, -op.literal_len))
        return same_method[0], True

    @staticmethod
    def uncovered_reason(path: str) -> str | None:
        for prefix, reason in UNCOVERED:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix):
                return reason
        return None

    # ------------------------------------------------------------------ checking

    def check(self, exchange: Exchange) -> list[Violation]:
        method, path = exchange.method, exchange.path
        if self.uncovered_reason(path) is not None:
            with self.lock:
                self.uncovered[f"{method} {exchange.template or path}"] += 1
            return []
        with self.lock:
            self.checked += 1
        operation, path_known = self.find(method, path)
        if operation is None:
            what = "method not declared for this path" if path_known else "path not in any OpenAPI file"
            return [Violation("unknown-path", method, path, exchange.status, what)]
        with self.lock:
            self.operations_seen[f"{method} {operation.template}"] += 1
        violations = self._check_request(operation, exchange)
        if exchange.status is not None:
            violations += self._check_response(operation, exchange)
        return violations

    def _mock_request(self, exchange: Exchange) -> MockRequest:
        content_type = exchange.request_headers.get("content-type", "application/json")
        return MockRequest(
            SPEC_HOST,
            exchange.method.lower(),
            exchange.path,
            args=cast(Any, parse_qsl(exchange.query_string, keep_blank_values=True)),
            headers=exchange.request_headers,
            data=exchange.request_body or None,
            content_type=content_type.split(";")[0].strip(),
        )

    def _check_request(self, operation: _Operation, exchange: Exchange) -> list[Violation]:
        out: list[Violation] = []
        names = {name for name, _ in parse_qsl(exchange.query_string, keep_blank_values=True)}
        undeclared = sorted(names - operation.query_params)
        if undeclared:
            out.append(
                Violation(
                    "request",
                    exchange.method,
                    exchange.path,
                    exchange.status,
                    f"query parameter(s) {undeclared} not declared by {operation.template} "
                    f"({operation.source})",
                )
            )
        with warnings.catch_warnings():
            # openapi-core has no provider for the oauth2 security scheme; bearer is checked by the sim
            warnings.filterwarnings("ignore", message="Unsupported scheme type")
            try:
                operation.api.validate_request(self._mock_request(exchange))
            except Exception as exc:
                out.append(
                    Violation("request", exchange.method, exchange.path, exchange.status, _describe(exc))
                )
        return out

    def _check_response(self, operation: _Operation, exchange: Exchange) -> list[Violation]:
        status = exchange.status
        assert status is not None
        key = f"{exchange.method} {operation.template} -> {status}"
        declared = str(status) in operation.responses or "default" in operation.responses
        if not declared:
            gap = KNOWN_SPEC_GAPS.get((exchange.method, operation.template, status))
            if gap is not None:
                with self.lock:
                    self.known_gaps[key] += 1
                return []
            if status in UNDECLARED_ERROR_STATUSES:
                with self.lock:
                    self.undeclared_errors[key] += 1
                return _check_error_body(exchange)
            return [
                Violation(
                    "undeclared-status",
                    exchange.method,
                    exchange.path,
                    status,
                    f"status {status} is not declared by {operation.template} ({operation.source})",
                )
            ]
        if not exchange.response_body and status in EMPTY_BODY_STATUSES:
            return []
        response = MockResponse(
            exchange.response_body,
            status_code=status,
            headers=exchange.response_headers,
            content_type=exchange.response_headers.get("content-type", "application/json").split(";")[0],
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unsupported scheme type")
            try:
                operation.api.validate_response(self._mock_request(exchange), response)
            except Exception as exc:
                return [Violation("response", exchange.method, exchange.path, status, _describe(exc))]
        return []

    def summary(self) -> str:
        lines = [
            f"Visma contract ({self.directory}): {self.checked} exchange(s) validated against "
            f"{len(self.files)} OpenAPI file(s); {len(self.operations_seen)} operation(s) exercised."
        ]
        if self.uncovered:
            lines.append("  uncovered (no OpenAPI file, see tests/support/contract.py UNCOVERED):")
            lines += [f"    {k}: {v}" for k, v in sorted(self.uncovered.items())]
        if self.undeclared_errors:
            lines.append("  error statuses the spec does not declare (body shape checked):")
            lines += [f"    {k}: {v}" for k, v in sorted(self.undeclared_errors.items())]
        if self.known_gaps:
            lines.append("  known spec gaps:")
            lines += [f"    {k}: {v}" for k, v in sorted(self.known_gaps.items())]
        return "\n".join(lines)


def _check_error_body(exchange: Exchange) -> list[Violation]:
    """Undeclared error statuses must carry one of the two documented error shapes (or nothing)."""
    if not exchange.response_body:
        return []
    try:
        body = json.loads(exchange.response_body)
    except ValueError:
        return [Violation("error-body", exchange.method, exchange.path, exchange.status, "not JSON")]
    if isinstance(body, dict) and (
        isinstance(body.get("message"), str)
        or {"ExceptionType", "ExceptionFaultCode", "ExceptionMessageID"} <= body.keys()
    ):
        return []
    return [
        Violation(
            "error-body",
            exchange.method,
            exchange.path,
            exchange.status,
            f"error body is neither {{'message': ...}} nor an IPPException: {body!r}"[:300],
        )
    ]


def _describe(exc: Exception) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None and len(parts) < 4:
        errors = getattr(cause, "schema_errors", None)
        if errors:
            parts += [f"  - {getattr(e, 'message', e)} at {list(getattr(e, 'path', []))}" for e in errors]
        else:
            parts.append(f"  caused by {type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "\n".join(parts)[:2000]


@dataclass
class _Cache:
    validators: dict[Path, ContractValidator] = field(default_factory=dict)


_CACHE = _Cache()


def load_validator() -> ContractValidator:
    """The validator for :func:`openapi_dir`, cached per process. Fails the test loudly if absent."""
    directory = openapi_dir().resolve()
    if not directory.is_dir() or not any(directory.glob("*.y*ml")):
        pytest.fail(
            "\n" + "!" * 100 + f"\nVISMA OPENAPI FILES NOT FOUND at {directory}.\n"
            "Contract tests need the third-party Visma OpenAPI files "
            "(they are not part of this repository).\n"
            f"Put them in ../shared/visma-openapi or point {OPENAPI_DIR_ENV} at the folder.\n"
            "Refusing to run Visma tests without contract validation.\n" + "!" * 100,
            pytrace=False,
        )
    cached = _CACHE.validators.get(directory)
    if cached is None:
        cached = ContractValidator(directory)
        _CACHE.validators[directory] = cached
    return cached
