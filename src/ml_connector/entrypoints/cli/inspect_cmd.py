"""CLI command: ``ml-connector inspect PATH... [--profile NAME] [--json]``.

Parses local Stampli export files and prints, per file, the canonical documents and every issue.
Exit 0 when no file was rejected (rejected documents inside a file are fine), 1 when any file was
rejected, 2 on usage errors (unknown profile, missing path).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from ml_connector.domain.documents import Invoice, Payment, invoice_json, payment_json
from ml_connector.entrypoints.cli.app import app
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderProfile
from ml_connector.stampli.read import ReadResult, read_export


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


def _print_human(result: ReadResult) -> None:
    typer.echo(
        f"{result.file}: {result.kind or '?'} {result.status.upper()} "
        f"({len(result.documents)} accepted, {len(result.rejected)} rejected)"
    )
    for doc in result.documents:
        if isinstance(doc, Invoice):
            typer.echo(
                f"  {doc.key}  {doc.document_type} {doc.invoice_number}  vendor {doc.vendor_id} "
                f"{doc.vendor_name}  {doc.invoice_date}  {doc.total_amount} {doc.currency}  "
                f"({len(doc.lines)} lines)"
            )
        else:
            typer.echo(
                f"  PAY:{doc.stampli_payment_id}  {doc.payment_status} {doc.payment_method}  "
                f"{doc.payment_date}  {doc.payment_amount} {doc.payment_currency}  vendor {doc.vendor_id}  "
                f"({len(doc.applications)} applications)"
            )
            for a in doc.applications:
                typer.echo(
                    f"      -> {a.stampli_invoice_id} {a.document_type} {a.invoice_number}: "
                    f"{a.applied_amount}"
                )
    for rec in result.rejected:
        typer.echo(f"  REJECTED {rec.key or '(no key)'}")
    for issue in result.issues:
        typer.echo(f"  {issue}")


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
        result = read_export(path, profile=reader_profile)
        any_rejected |= result.status == "rejected"
        if as_json:
            typer.echo(json.dumps(result_json(result), ensure_ascii=False))
        else:
            _print_human(result)
    if any_rejected:
        raise typer.Exit(1)
