"""Contract validation of Visma traffic against the project's own contract, ``visma_contract.yml``.

Every exchange the simulator serves in a test (the client's request and the simulator's response) is
checked against ``tests/support/visma_contract.yml``: the operations, parameters and fields the
connector sends and reads, written by us and kept in this repository (docs/contract.md). Nothing here
needs Visma's published OpenAPI files; tests/visma/test_contract_matches_openapi.py cross-checks the
contract against them when they are present (tests/support/openapi_crosscheck.py).

What is checked
  * the operation (method + path) is in the contract, else the exchange is drift ("unknown-path");
  * request: query parameters and header parameters are declared and of the declared type; the body
    matches the declared type with objects **closed** (a misspelt or invented field is drift);
    a ``multipart`` operation (an upload) takes multipart/form-data with exactly the declared parts;
  * response: the status is declared (or an error status, whose body must be one of Visma's two error
    shapes); the body matches the declared type with objects **open** (Visma sends many fields we do
    not read; those we read must have the declared type, required ones must be there).

Known deviations from Visma's published files live in the contract file itself: offset-less
date-times (the ``date-time`` type), no body on 201/204, statuses the files omit (``not_in_spec``).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml  # type: ignore[import-untyped,unused-ignore]
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped,unused-ignore]

from ml_connector.sim.visma import Exchange

CONTRACT_FILE = Path(__file__).with_name("visma_contract.yml")

#: (path prefix, why it is outside the contract). Exchanges on these paths are counted in ``uncovered``.
UNCOVERED: tuple[tuple[str, str], ...] = (
    ("/connect/", "Visma Connect OAuth2 token endpoint; not part of the ERP API"),
    ("/_sim/", "simulator test endpoints; not part of the Visma API"),
)

#: Visma's files declare no error responses (visma-api.md §6): these are accepted on any operation.
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 412, 415, 429, 500, 502, 503, 504})

_ISO_DT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$")
_FILTER_DT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2}(\.\d{1,3})?)?$")
_ENUM = re.compile(r"^enum\((.*)\)$")
_VALUE = re.compile(r"^Value<(.*)>$")
SCALARS = frozenset({"string", "integer", "number", "boolean", "date-time", "date", "filter-date-time"})


def is_iso_datetime(value: object) -> bool:
    """ISO-8601 date-time; the offset is optional (Visma sends company-local times without one)."""
    if not isinstance(value, str) or not _ISO_DT.match(value):
        return False
    try:
        datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return False
    return True


def is_filter_datetime(value: object) -> bool:
    """A ``lastModifiedDateTime`` filter value in one of the formats Visma documents (visma-api.md §3.5)."""
    if not isinstance(value, str) or not _FILTER_DT.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        return False


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(is_iso_datetime)
_FORMATS.checks("date")(is_iso_date)
_FORMATS.checks("filter-date-time")(is_filter_datetime)


def template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


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


@dataclass(frozen=True)
class Operation:
    """One ``METHOD /path`` entry of the contract file (types are the file's type expressions)."""

    method: str
    template: str
    spec: str | None
    used_by: str
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any  # a type expression, or None: the operation takes no body
    multipart: tuple[str, ...]  # multipart/form-data part names (every one required), or () for none
    responses: dict[int, Any]  # status -> type expression, or "empty"
    not_in_spec: dict[int, str]

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


class Contract:
    """The parsed contract file: operations, named schemas and JSON Schema built from them."""

    def __init__(self, path: Path = CONTRACT_FILE) -> None:
        self.path = path
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.schemas: dict[str, dict[str, Any]] = data["schemas"]
        self.operations = [_operation(key, entry) for key, entry in data["operations"].items()]
        self._regex = {op.key: template_regex(op.template) for op in self.operations}
        for op in self.operations:  # a typo in the file fails here, not at the first exchange
            for expr in [*op.query.values(), *op.headers.values(), op.body, *op.responses.values()]:
                if expr is not None and expr != "empty":
                    self.json_schema(expr, closed=True)

    def find(self, method: str, path: str) -> tuple[Operation | None, bool]:
        """(operation, path_known). The most literal template wins (``/x/publicid/{id}`` over ``/x/{v}``)."""
        matches = [op for op in self.operations if self._regex[op.key].match(path)]
        same = [op for op in matches if op.method == method]
        same.sort(key=lambda op: op.template.count("{"))
        return (same[0] if same else None), bool(matches)

    def json_schema(self, expr: Any, *, closed: bool) -> dict[str, Any]:
        """A JSON Schema for a type expression; ``closed`` forbids fields the contract does not list."""
        if isinstance(expr, list):
            if len(expr) != 1:
                raise ValueError(f"{self.path.name}: an array type has one item type, got {expr!r}")
            return {"type": "array", "items": self.json_schema(expr[0], closed=closed)}
        if isinstance(expr, dict):
            return self._object(expr, closed=closed)
        text = str(expr).strip()
        if (m := _VALUE.match(text)) is not None:
            inner = self.json_schema(m.group(1), closed=closed)
            return {"type": "object", "properties": {"value": inner}, "required": ["value"]} | (
                {"additionalProperties": False} if closed else {}
            )
        if (m := _ENUM.match(text)) is not None:
            return {"type": "string", "enum": enum_values(text)}
        if text in {"date-time", "date", "filter-date-time"}:
            return {"type": "string", "format": text}
        if text in SCALARS:
            return {"type": text}
        if text in self.schemas:
            return self._object(self.schemas[text], closed=closed)
        raise ValueError(f"{self.path.name}: unknown type {text!r} (not a scalar, enum(...) or a schema)")

    def _object(self, fields: dict[str, Any], *, closed: bool) -> dict[str, Any]:
        properties = {name.rstrip("!"): self.json_schema(t, closed=closed) for name, t in fields.items()}
        required = [name.rstrip("!") for name in fields if name.endswith("!")]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if closed:
            schema["additionalProperties"] = False
        return schema


def enum_values(expr: str) -> list[str]:
    m = _ENUM.match(expr.strip())
    assert m is not None
    return [v.strip() for v in m.group(1).split("|") if v.strip()]


def field_names(fields: dict[str, Any]) -> dict[str, Any]:
    """``{name: type}`` with the required marker ``!`` removed from the names."""
    return {name.rstrip("!"): t for name, t in fields.items()}


def _operation(key: str, entry: dict[str, Any]) -> Operation:
    method, template = key.split(" ", 1)
    return Operation(
        method=method.upper(),
        template=template,
        spec=entry.get("spec"),
        used_by=str(entry.get("used_by", "")),
        query=dict(entry.get("query") or {}),
        headers=dict(entry.get("headers") or {}),
        body=entry.get("body"),
        multipart=tuple(str(name) for name in entry.get("multipart") or ()),
        responses={int(s): t for s, t in (entry.get("responses") or {}).items()},
        not_in_spec={int(s): str(r) for s, r in (entry.get("not_in_spec") or {}).items()},
    )


def _problems(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=_FORMATS)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{e.message} at {'/'.join(str(p) for p in e.absolute_path) or '(root)'}" for e in found[:10]]


def _parameter_ok(expr: Any, value: str) -> bool:
    """A query/header value (always text on the wire) against a scalar or enum type expression."""
    text = str(expr).strip()
    if text == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if text == "number":
        return re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    if text == "boolean":
        return value in {"true", "false"}
    if text == "date-time":
        return is_iso_datetime(value)
    if text == "date":
        return is_iso_date(value)
    if text == "filter-date-time":
        return is_filter_datetime(value)
    if text.startswith("enum("):
        return value in enum_values(text)
    return text == "string"


class ContractValidator:
    """Checks :class:`Exchange` objects against a :class:`Contract`; collects coverage counters."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.lock = threading.Lock()
        self.checked = 0
        self.uncovered: Counter[str] = Counter()
        self.undeclared_errors: Counter[str] = Counter()
        self.not_in_spec: Counter[str] = Counter()
        self.operations_seen: Counter[str] = Counter()

    @staticmethod
    def uncovered_reason(path: str) -> str | None:
        return next((why for prefix, why in UNCOVERED if path.startswith(prefix)), None)

    def check(self, exchange: Exchange) -> list[Violation]:
        method, path = exchange.method, exchange.path
        if self.uncovered_reason(path) is not None:
            with self.lock:
                self.uncovered[f"{method} {exchange.template or path}"] += 1
            return []
        with self.lock:
            self.checked += 1
        operation, path_known = self.contract.find(method, path)
        if operation is None:
            what = "method not in the contract for this path" if path_known else "path not in the contract"
            return [
                Violation(
                    "unknown-path",
                    method,
                    path,
                    exchange.status,
                    f"{what} ({self.contract.path.name}); if the connector now uses it, add the "
                    "operation there (docs/contract.md)",
                )
            ]
        with self.lock:
            self.operations_seen[operation.key] += 1
        violations = self._check_request(operation, exchange)
        if exchange.status is not None:
            violations += self._check_response(operation, exchange)
        return violations

    def _violation(self, kind: str, exchange: Exchange, detail: str) -> Violation:
        return Violation(kind, exchange.method, exchange.path, exchange.status, detail)

    def _check_request(self, op: Operation, exchange: Exchange) -> list[Violation]:
        out: list[Violation] = []
        for name, value in parse_qsl(exchange.query_string, keep_blank_values=True):
            if name not in op.query:
                out.append(self._violation("request", exchange, f"query parameter {name!r} not in {op.key}"))
            elif not _parameter_ok(op.query[name], value):
                out.append(
                    self._violation("request", exchange, f"query {name}={value!r} is not {op.query[name]}")
                )
        headers = {k.lower(): v for k, v in exchange.request_headers.items()}
        for name, expr in op.headers.items():
            sent = headers.get(name.lower())
            if sent is not None and not _parameter_ok(expr, sent):
                out.append(self._violation("request", exchange, f"header {name}={sent!r} is not {expr}"))
        if op.multipart:
            return out + [self._violation("request", exchange, p) for p in _multipart_problems(op, exchange)]
        body = exchange.request_body.strip()
        if op.body is None:
            if body:
                out.append(self._violation("request", exchange, f"{op.key} takes no body"))
            return out
        try:
            data = json.loads(body)
        except ValueError:
            return [*out, self._violation("request", exchange, "request body is not JSON")]
        schema = self.contract.json_schema(op.body, closed=True)
        out += [self._violation("request", exchange, f"body: {p}") for p in _problems(schema, data)]
        return out

    def _check_response(self, op: Operation, exchange: Exchange) -> list[Violation]:
        status = exchange.status
        assert status is not None
        key = f"{op.key} -> {status}"
        if status not in op.responses:
            if status in ERROR_STATUSES:
                with self.lock:
                    self.undeclared_errors[key] += 1
                return _check_error_body(exchange)
            return [self._violation("undeclared-status", exchange, f"status {status} not in the contract")]
        if status in op.not_in_spec:
            with self.lock:
                self.not_in_spec[key] += 1
        expected = op.responses[status]
        body = exchange.response_body.strip()
        if expected == "empty":
            return [self._violation("response", exchange, "expected no body")] if body else []
        try:
            data = json.loads(body)
        except ValueError:
            return [self._violation("response", exchange, "response body is not JSON")]
        schema = self.contract.json_schema(expected, closed=False)
        return [self._violation("response", exchange, f"body: {p}") for p in _problems(schema, data)]

    def summary(self) -> str:
        ops = self.contract.operations
        lines = [
            f"Visma contract ({self.contract.path.name}): {self.checked} exchange(s) validated; "
            f"{len(self.operations_seen)} of {len(ops)} operation(s) exercised."
        ]
        unused = [op.key for op in ops if op.key not in self.operations_seen]
        if unused and self.operations_seen:
            lines.append(f"  not exercised in this run: {', '.join(unused)}")
        if self.uncovered:
            lines.append("  outside the contract (see tests/support/contract.py UNCOVERED):")
            lines += [f"    {k}: {v}" for k, v in sorted(self.uncovered.items())]
        if self.undeclared_errors:
            lines.append("  error statuses (body shape checked):")
            lines += [f"    {k}: {v}" for k, v in sorted(self.undeclared_errors.items())]
        if self.not_in_spec:
            lines.append("  statuses Visma's files omit (contract not_in_spec):")
            lines += [f"    {k}: {v}" for k, v in sorted(self.not_in_spec.items())]
        return "\n".join(lines)


def _multipart_problems(op: Operation, exchange: Exchange) -> list[str]:
    """A multipart/form-data body whose part names are exactly the declared ones."""
    headers = {k.lower(): v for k, v in exchange.request_headers.items()}
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return [f"{op.key} takes multipart/form-data, not {content_type!r}"]
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + exchange.request_body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    names = [p.get_param("name", header="content-disposition") for p in parts if isinstance(p, Message)]
    problems = [f"multipart part {n!r} not in {op.key}" for n in names if n not in op.multipart]
    problems += [f"multipart part {n!r} missing" for n in op.multipart if n not in names]
    return problems


def _check_error_body(exchange: Exchange) -> list[Violation]:
    """Error statuses carry one of the two documented error shapes (or nothing)."""
    if not exchange.response_body.strip():
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


@cache
def load_contract() -> Contract:
    return Contract(CONTRACT_FILE)


@cache
def load_validator() -> ContractValidator:
    """The validator for the repository's contract, one per test process (it keeps the counters)."""
    return ContractValidator(load_contract())
