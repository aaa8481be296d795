"""Cross-check of our Visma contract (visma_contract.yml) against Visma's published OpenAPI files.

The files are third-party data and never copied into this repository. They are looked for in
``ML_CONNECTOR_VISMA_OPENAPI_DIR``, else ``../shared/visma-openapi`` beside the checkout. CI always has
them (``.ci/run`` sets ``ML_CONNECTOR_REQUIRE_VISMA_OPENAPI=1``, which turns their absence into a
failure); on a user's machine the cross-check does not run and the test run says so.

:func:`disagreements` returns one line per disagreement: an operation, parameter or field we rely on
that the files do not have, or have with another type. Fields Visma sends and we do not read are
not our business and are not compared.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from tests.support.contract import SCALARS, Contract, Operation, enum_values, field_names

OPENAPI_DIR_ENV = "ML_CONNECTOR_VISMA_OPENAPI_DIR"
REQUIRE_ENV = "ML_CONNECTOR_REQUIRE_VISMA_OPENAPI"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_OPENAPI_DIR = REPO.parent / "shared" / "visma-openapi"


#: What the cross-check test found in this run, for the terminal summary (tests/support/visma_sim.py).
OUTCOME: list[str] = []


def openapi_dir() -> Path:
    return Path(os.environ.get(OPENAPI_DIR_ENV) or DEFAULT_OPENAPI_DIR)


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in {"", "0"}


def missing_reason(directory: Path) -> str | None:
    """Why the cross-check cannot run with ``directory``, or None when it can."""
    if not directory.is_dir():
        return f"no folder {directory}"
    if not any(directory.glob("*.yml")):
        return f"no OpenAPI files (*.yml) in {directory}"
    return None


@cache
def _load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when PyYAML has it: 10x faster
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506  (a safe loader)
    if not isinstance(doc, dict) or "paths" not in doc:
        raise ValueError(f"{path} is not an OpenAPI document")
    return doc


class _Spec:
    """One published file: resolves ``$ref`` and merges ``allOf``."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.doc = _load(path)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.doc
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                merged.update({k: v for k, v in part.items() if k not in {"properties", "required"}})
            schema = merged
        for key in ("oneOf", "anyOf"):  # a nullable wrapper: the one non-null alternative
            options = [o for o in schema.get(key, []) if o.get("type") != "null"]
            if len(options) == 1:
                schema = self.resolve(options[0])
        return schema


def _kind(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and "properties" in schema:
        return "object"
    return str(t)


class _Comparer:
    def __init__(self, contract: Contract, spec: _Spec) -> None:
        self.contract = contract
        self.spec = spec
        self.out: list[str] = []

    def say(self, where: str, text: str) -> None:
        self.out.append(f"{where}: {text} ({self.spec.name})")

    def compare(self, expr: Any, schema: dict[str, Any], where: str, *, parameter: bool = False) -> None:
        """Our type expression ``expr`` against the published ``schema``."""
        schema = self.spec.resolve(schema)
        kind, fmt = _kind(schema), schema.get("format")
        if isinstance(expr, list):
            if kind != "array":
                self.say(where, f"we use an array, Visma's file says {kind}")
            else:
                self.compare(expr[0], schema.get("items", {}), where + "[]")
            return
        if isinstance(expr, dict):
            self.compare_object(field_names(expr), schema, where)
            return
        text = str(expr).strip()
        if text.startswith("Value<"):
            self.compare_object({"value": text[len("Value<") : -1]}, schema, where)
        elif text.startswith("enum("):
            ours = enum_values(text)
            theirs = schema.get("enum")
            if kind != "string":
                self.say(where, f"we use a string enum, Visma's file says {kind}")
            elif theirs is not None and set(ours) - set(theirs):
                self.say(where, f"values {sorted(set(ours) - set(theirs))} are not in Visma's enum {theirs}")
        elif text in SCALARS:
            self.compare_scalar(text, kind, fmt, where, parameter=parameter)
        else:
            self.compare_object(field_names(self.contract.schemas[text]), schema, where)

    def compare_scalar(self, ours: str, kind: str, fmt: Any, where: str, *, parameter: bool) -> None:
        wanted = {"date-time": "string", "date": "string", "filter-date-time": "string"}.get(ours, ours)
        if ours == "number" and kind == "integer":
            return  # an integer is a number; we use it as Decimal
        if kind != wanted:
            self.say(where, f"we use {ours}, Visma's file says {kind}{f' ({fmt})' if fmt else ''}")
        elif ours in {"date-time", "date"} and fmt != ours and not parameter:
            self.say(where, f"we use a {ours}, Visma's file says a string{f' ({fmt})' if fmt else ''}")
        elif ours == "string" and fmt in {"date-time", "date"}:
            self.say(where, f"we use a plain string, Visma's file says {fmt}")

    def compare_object(self, fields: dict[str, Any], schema: dict[str, Any], where: str) -> None:
        schema = self.spec.resolve(schema)
        if _kind(schema) != "object":
            self.say(where, f"we use an object, Visma's file says {_kind(schema)}")
            return
        properties = schema.get("properties", {})
        for name, expr in fields.items():
            if name not in properties:
                self.say(f"{where}.{name}", "field not in Visma's file")
            else:
                self.compare(expr, properties[name], f"{where}.{name}")


def _json_schema(content: dict[str, Any] | None) -> dict[str, Any] | None:
    if not content:
        return None
    media = content.get("application/json") or next(iter(content.values()))
    schema = media.get("schema") if isinstance(media, dict) else None
    return schema if isinstance(schema, dict) else None


def _find_path(spec: _Spec, template: str) -> tuple[str | None, dict[str, Any]]:
    paths: dict[str, Any] = spec.doc.get("paths", {})
    if template in paths:
        return template, paths[template]

    def shape(t: str) -> str:
        return "/".join("{}" if p.startswith("{") else p.lower() for p in t.split("/"))

    for other, item in paths.items():
        if shape(other) == shape(template):
            return other, item
    return None, {}


def check_operation(contract: Contract, op: Operation, directory: Path) -> list[str]:
    where = op.key
    assert op.spec is not None
    file = directory / op.spec
    if not file.is_file():
        return [f"{where}: Visma's file {op.spec} is not in {directory}"]
    spec = _Spec(file)
    cmp = _Comparer(contract, spec)
    found, item = _find_path(spec, op.template)
    if found is None:
        return [f"{where}: path not in {spec.name}"]
    if found != op.template:
        cmp.say(where, f"Visma's file spells the path {found}")
    operation = item.get(op.method.lower())
    if not isinstance(operation, dict):
        return [*cmp.out, f"{where}: method {op.method} not declared for {found} in {spec.name}"]
    parameters = [spec.resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
    for location, ours in (("query", op.query), ("header", op.headers)):
        fold = str.lower if location == "header" else str  # header names are case-insensitive
        theirs = {fold(p["name"]): p for p in parameters if p.get("in") == location}
        for name, expr in ours.items():
            declared = theirs.get(fold(name))
            if declared is None:
                cmp.say(f"{where} {location} {name}", "parameter not in Visma's file")
            else:
                cmp.compare(expr, declared.get("schema", {}), f"{where} {location} {name}", parameter=True)
    if op.multipart:
        content = operation.get("requestBody", {}).get("content") or {}
        if content and "multipart/form-data" not in content:
            cmp.say(where, f"we send multipart/form-data, Visma's file declares {sorted(content)}")
    if op.body is not None:
        body = _json_schema(operation.get("requestBody", {}).get("content"))
        if body is None:
            cmp.say(where, "we send a body, Visma's file declares none")
        else:
            cmp.compare(op.body, body, f"{where} body")
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    for status, expr in op.responses.items():
        declared = responses.get(str(status))
        if status in op.not_in_spec:
            if declared is not None and _json_schema(declared.get("content")) is not None:
                cmp.say(f"{where} -> {status}", "Visma's file now declares it: drop it from not_in_spec")
            continue
        if declared is None:
            cmp.say(f"{where} -> {status}", "status not in Visma's file (add it to not_in_spec, with why)")
            continue
        if expr == "empty":
            continue  # the service sends no body where the files declare one (visma-api.md §3.2)
        schema = _json_schema(declared.get("content"))
        if schema is None:
            cmp.say(f"{where} -> {status}", "we use a body, Visma's file declares none")
        else:
            cmp.compare(expr, schema, f"{where} -> {status}")
    return cmp.out


def disagreements(contract: Contract, directory: Path) -> list[str]:
    """Every disagreement between ``contract`` and the published files in ``directory``."""
    out: list[str] = []
    for op in contract.operations:
        if op.spec is not None:
            out += check_operation(contract, op, directory)
    return out


def unpublished(contract: Contract) -> list[str]:
    """Operations the contract takes from docs because no published file covers them."""
    return [op.key for op in contract.operations if op.spec is None]


def run_crosscheck(contract: Contract) -> list[str]:
    """The disagreements with the files in :func:`openapi_dir`. Without the files: a failure when
    :func:`required`, else a skip whose reason (also in the run's terminal summary) says what did not run.
    """
    directory = openapi_dir().resolve()
    reason = missing_reason(directory)
    if reason is not None:
        note = (
            f"Visma OpenAPI cross-check DID NOT RUN: {reason}. Our contract ({contract.path.name}) was not "
            f"compared with Visma's published files; every exchange was still validated against it. "
            f"Put the files in ../shared/visma-openapi or set {OPENAPI_DIR_ENV}."
        )
        OUTCOME.append(note)
        if required():
            pytest.fail(f"{note} {REQUIRE_ENV}=1 makes this a failure (CI has the files).", pytrace=False)
        pytest.skip(note)
    problems = disagreements(contract, directory)
    OUTCOME.append(
        f"Visma OpenAPI cross-check ran against {directory}: {len(contract.operations)} operation(s), "
        f"{len(problems)} disagreement(s); not published, so not cross-checked: "
        + ", ".join(unpublished(contract))
    )
    return problems
