"""CLI command: ``ml-connector inspect PATH... [--profile NAME] [--json]``.

Parses local Stampli export files and prints, per file, the canonical documents and every issue.
Exit 0 when no file was rejected (rejected documents inside a file are fine), 1 when any file was
rejected, 2 on usage errors (unknown profile, missing path).

Files are streamed: each document is printed as soon as it is read and then forgotten, so memory
stays flat whatever the file's size (the JSON object of a file is written piece by piece). An
exception out of the reader rejects that file (issue ``reader_error``) and the next one is read.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ml_connector.entrypoints.cli.app import app
from ml_connector.service.inspection import (
    BUILTIN_PROFILES,
    FileRejected,
    Invoice,
    Issue,
    Payment,
    ReaderProfile,
    ReadResult,
    RejectedRecord,
    error,
    invoice_json,
    iter_export,
    payment_json,
    read_export,
)


def load_profile(name: str) -> ReaderProfile:
    """A built-in profile by name, or a profile file (``.toml`` / ``.json``)."""
    if name in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[name]
    path = Path(name)
    if path.suffix in (".toml", ".json") and path.is_file():
        data: Any
        try:
            data = (
                tomllib.loads(path.read_text("utf-8"))
                if path.suffix == ".toml"
                else json.loads(path.read_text("utf-8"))
            )
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(
                f"cannot read profile file {path}: {exc}", param_hint="--profile"
            ) from None
        if not isinstance(data, dict):
            raise typer.BadParameter(f"{path} must hold a table of profile settings", param_hint="--profile")
        try:
            return ReaderProfile.from_mapping(data, name=path.stem)
        except ValueError as exc:
            problems = exc.args[0] if exc.args and isinstance(exc.args[0], list) else [str(exc)]
            raise typer.BadParameter(
                f"invalid profile {path}:\n" + "\n".join(f"  - {p}" for p in problems), param_hint="--profile"
            ) from None
    known = ", ".join(sorted(BUILTIN_PROFILES))
    raise typer.BadParameter(
        f"unknown profile {name!r} (built in: {known}; or a .toml/.json file)", param_hint="--profile"
    )


def _doc_json(doc: Invoice | Payment) -> dict[str, Any]:
    return invoice_json(doc) if isinstance(doc, Invoice) else payment_json(doc)


def result_json(result: ReadResult) -> dict[str, Any]:
    return {
        "file": result.file,
        "kind": result.kind,
        "status": result.status,
        "documents": [_doc_json(d) for d in result.documents],
        "issues": [i.as_dict() for i in result.issues],
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _doc_line(doc: Invoice | Payment) -> str:
    if isinstance(doc, Invoice):
        return (
            f"  {doc.key}  {doc.document_type} {doc.invoice_number}  vendor {doc.vendor_id} "
            f"{doc.vendor_name}  {doc.invoice_date}  {doc.total_amount} {doc.currency}  "
            f"({len(doc.lines)} lines)"
        )
    text = (
        f"  PAY:{doc.stampli_payment_id}  {doc.payment_status} {doc.payment_method}  "
        f"{doc.payment_date}  {doc.payment_amount} {doc.payment_currency}  vendor {doc.vendor_id}  "
        f"({len(doc.applications)} applications)"
    )
    for a in doc.applications:
        text += f"\n      -> {a.stampli_invoice_id} {a.document_type} {a.invoice_number}: {a.applied_amount}"
    return text


def _print_human(result: ReadResult) -> None:
    typer.echo(
        f"{result.file}: {result.kind or '?'} {result.status.upper()} "
        f"({len(result.documents)} accepted, {len(result.rejected)} rejected)"
    )
    for doc in result.documents:
        typer.echo(_doc_line(doc))
    for rec in result.rejected:
        typer.echo(f"  REJECTED {rec.key or '(no key)'}")
    for issue in result.issues:
        typer.echo(f"  {issue}")


def _print_whole(result: ReadResult, as_json: bool) -> None:
    if as_json:
        typer.echo(_dumps(result_json(result)))
    else:
        _print_human(result)


def _reader_failed(path: Path, exc: Exception) -> Issue:
    return error("reader_error", f"the reader failed: {type(exc).__name__}: {exc}", file=str(path))


def _inspect_file(path: Path, profile: ReaderProfile, as_json: bool) -> bool:
    """Print one file's documents as they are read; True when the file was rejected."""
    try:
        stream = iter_export(path, profile=profile)
    except FileRejected:
        _print_whole(read_export(path, profile=profile), as_json)  # the same rejection, with the kind
        return True
    except Exception as exc:  # a reader bug must not hide the other files
        _print_whole(ReadResult(str(path), None, "rejected", [], [], [_reader_failed(path, exc)]), as_json)
        return True
    out = sys.stdout
    if as_json:
        out.write(f'{{"file": {_dumps(str(path))}, "kind": {_dumps(stream.kind)}, "documents": [')
    accepted = 0
    rejected: list[RejectedRecord] = []
    failure: Issue | None = None
    try:
        for item in stream:
            if isinstance(item, RejectedRecord):
                rejected.append(replace(item, raw="", parsed=None))  # keys and issues only: raw text is large
            elif as_json:
                out.write((", " if accepted else "") + _dumps(_doc_json(item)))
                accepted += 1
            else:
                out.write(_doc_line(item) + "\n")
                accepted += 1
    except FileRejected as exc:
        found = [*exc.warnings, *exc.issues]
        failure = found[0] if found else _reader_failed(path, exc)
        stream.issues.extend(found)
    except Exception as exc:
        failure = _reader_failed(path, exc)
        stream.issues.append(failure)
    status = "rejected" if failure is not None else ("partial" if rejected else "ok")
    issues = [*stream.issues, *(i for r in rejected for i in r.issues)]
    if as_json:
        out.write(f'], "status": {_dumps(status)}, "issues": {_dumps([i.as_dict() for i in issues])}}}\n')
    else:
        for rec in rejected:
            out.write(f"  REJECTED {rec.key or '(no key)'}\n")
        for issue in issues:
            out.write(f"  {issue}\n")
        out.write(f"{path}: {stream.kind} {status.upper()} ({accepted} accepted, {len(rejected)} rejected)\n")
    out.flush()
    return status == "rejected"


@app.command("inspect")
def inspect(
    paths: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, readable=True, help="Stampli export files (CSV or XML)."),
    ],
    profile: Annotated[
        str, typer.Option("--profile", help="Reader profile: canonical, nordic, us, or a .toml/.json file.")
    ] = "canonical",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file and line.")] = False,
) -> None:
    """Parse local export files; print their canonical documents and every issue."""
    reader_profile = load_profile(profile)
    any_rejected = False
    for path in paths:
        any_rejected |= _inspect_file(path, reader_profile, as_json)
    if any_rejected:
        raise typer.Exit(1)
