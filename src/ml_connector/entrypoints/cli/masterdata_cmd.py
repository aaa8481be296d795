"""``ml-connector masterdata export``: Visma's coding lists (and suppliers) to Stampli's inbound
folders (docs/masterdata.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ml_connector.entrypoints.cli.app import app
from ml_connector.entrypoints.cli.ops_cmd import (
    DEFAULT_CONFIG,
    ConfigOpt,
    ConnOpt,
    JsonOpt,
    _actor,
    _app,
    _dump,
)
from ml_connector.redaction import redact
from ml_connector.service.list_names import LIST_NAMES

if TYPE_CHECKING:
    from ml_connector.service.exports import ExportResult, MasterdataResult, Mode

masterdata_app = typer.Typer(
    help="Master-data export from Visma to Stampli: suppliers and coding lists.", no_args_is_help=True
)
app.add_typer(masterdata_app, name="masterdata")
console = Console()


@masterdata_app.command("export")
def export(
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
    lists: Annotated[
        list[str] | None,
        typer.Option(
            "--list",
            help=f"Only this list (repeatable): {', '.join(LIST_NAMES)}. "
            "Default: vendors plus the lists in [connections.NAME.masterdata].",
        ),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Every value (the daily snapshot).")] = False,
    delta: Annotated[
        bool, typer.Option("--delta", help="Only values that changed since the last upload (the default).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read Visma and build the files; upload and record nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """One CSV file per list into Stampli's inbound folders (name.tmp, then rename)."""
    if full and delta:
        raise typer.BadParameter("give --full or --delta, not both")
    unknown = [n for n in lists or [] if n not in LIST_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown list {unknown[0]!r}; choose from {', '.join(LIST_NAMES)}")
    from ml_connector.service.exports import export_lists

    mode: Mode = "full" if full else "delta"
    with _app(config) as application:
        try:
            results = export_lists(application, connection, lists, mode=mode, dry_run=dry_run, actor=_actor())
        except ValueError as exc:  # refused before anything was written
            raise typer.BadParameter(str(exc)) from None
    if as_json:
        _dump(
            [
                {
                    "connection": r.connection,
                    "vendors": r.vendors.summary() if r.vendors else None,
                    "coding_lists": r.coding.summary() if r.coding else None,
                }
                for r in results
            ]
        )
    else:
        for r in results:
            _print(r.connection, r.vendors, r.coding)
    raise typer.Exit(1 if any(r.failed for r in results) else 0)


def _print(name: str, vendors: ExportResult | None, coding: MasterdataResult | None) -> None:
    if vendors is not None:
        if vendors.status == "failed":
            line = f"[red]failed[/]: {redact(vendors.error or '')}"
        elif vendors.status == "unchanged":
            line = "unchanged"
        else:
            line = f"{vendors.vendors_exported} -> {vendors.remote_path or vendors.file_name}"
        console.print(f"[bold]{name}[/] vendors ({vendors.mode}): {line}")
    if coding is None:
        return
    if coding.error:
        console.print(f"[bold]{name}[/] coding lists: [red]failed[/]: {redact(coding.error)}")
    for lr in coding.lists:
        if lr.status == "failed":
            line = f"[red]failed[/]: {redact(lr.error or '')}"
        elif lr.status == "unchanged":
            line = f"unchanged ({lr.read} read from Visma)"
        else:
            where = lr.remote_path or f"{lr.file_name} (dry run, not uploaded)"
            line = f"{lr.rows} -> {where}"
        console.print(f"[bold]{name}[/] {lr.name} ({lr.mode}): {line}")
        for note in lr.notes:
            console.print(f"  [yellow]note[/]: {note}")
