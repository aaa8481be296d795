"""``ml-connector masterdata export``: Visma's coding lists (and suppliers) to Stampli's inbound
folders (docs/masterdata.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

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
from ml_connector.masterdata.export import MasterdataResult, applicable, export_masterdata
from ml_connector.masterdata.lists import SPECS
from ml_connector.pipeline.runtime import Runtime
from ml_connector.redaction import redact
from ml_connector.vendors.export import ExportResult, Mode, export_vendors

VENDORS = "vendors"
LIST_NAMES = (VENDORS, *SPECS)

masterdata_app = typer.Typer(
    help="Master-data export from Visma to Stampli: suppliers and coding lists.", no_args_is_help=True
)
app.add_typer(masterdata_app, name="masterdata")
console = Console()


async def _one(rt: Runtime, names: list[str], mode: Mode, dry_run: bool) -> dict[str, Any]:
    vendors: ExportResult | None = None
    if VENDORS in names:
        vendors = await export_vendors(rt, mode=mode, dry_run=dry_run)
    lists = [n for n in names if n != VENDORS]
    coding = await export_masterdata(rt, modes=dict.fromkeys(lists, mode), dry_run=dry_run) if lists else None
    return {"connection": rt.name, "vendors": vendors, "coding": coding}


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
    mode: Mode = "full" if full else "delta"
    results: list[dict[str, Any]] = []
    with _app(config) as application:
        runtimes = list(application.runtimes(connection, actor=_actor()))
        for rt in runtimes:  # refuse before anything is written
            if lists and "projects" in lists and rt.config.mapping.project_segment_id is None:
                raise typer.BadParameter(
                    f"connection {rt.name}: --list projects needs mapping.project_segment_id"
                )
        for rt in runtimes:
            chosen = list(lists) if lists else [VENDORS, *rt.config.masterdata.lists]
            names = ([VENDORS] if VENDORS in chosen else []) + applicable(rt, chosen)
            results.append(asyncio.run(_one(rt, names, mode, dry_run)))
    failed = False
    for r in results:
        vendors, coding = r["vendors"], r["coding"]
        failed = failed or (vendors is not None and vendors.status == "failed")
        failed = failed or (coding is not None and coding.status == "failed")
    if as_json:
        _dump(
            [
                {
                    "connection": r["connection"],
                    "vendors": r["vendors"].summary() if r["vendors"] else None,
                    "coding_lists": r["coding"].summary() if r["coding"] else None,
                }
                for r in results
            ]
        )
    else:
        for r in results:
            _print(r["connection"], r["vendors"], r["coding"])
    raise typer.Exit(1 if failed else 0)


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
