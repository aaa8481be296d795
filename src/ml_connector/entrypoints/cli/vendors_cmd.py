"""``ml-connector vendors export``: Visma's suppliers to Stampli's inbound folder (docs/vendors.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
from ml_connector.entrypoints.cli.output import make_console
from ml_connector.redaction import redact

if TYPE_CHECKING:
    from ml_connector.service.exports import ExportResult, Mode

vendors_app = typer.Typer(help="Vendor master export from Visma to Stampli.", no_args_is_help=True)
app.add_typer(vendors_app, name="vendors")
console = make_console()


@vendors_app.command("export")
def export(
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Every supplier (the daily snapshot).")] = False,
    delta: Annotated[
        bool, typer.Option("--delta", help="Only vendors whose exported fields changed (the default).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read Visma and build the file; upload and record nothing.")
    ] = False,
    save: Annotated[
        Path | None, typer.Option("--save", help="Also write the file here (one connection only).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write Visma's suppliers as a §4.6 CSV into each connection's vendors_folder (name.tmp, then rename)."""
    if full and delta:
        raise typer.BadParameter("give --full or --delta, not both")
    from ml_connector.service.exports import export_vendor_lists

    mode: Mode = "full" if full else "delta"
    results: list[ExportResult]
    with _app(config) as application:
        results = export_vendor_lists(application, connection, mode=mode, dry_run=dry_run, actor=_actor())
    if save is not None:
        if len(results) != 1:
            raise typer.BadParameter("--save needs exactly one connection (use --connection)")
        save.write_bytes(results[0].content)
    if as_json:
        _dump([r.summary() for r in results])
    else:
        for r in results:
            where = r.remote_path or (f"{r.file_name} (dry run, not uploaded)" if r.dry_run else r.file_name)
            if r.status == "unchanged":
                line = f"no vendor changed since the last upload ({r.suppliers_read} read from Visma)"
            elif r.status == "failed":
                line = f"[red]failed[/]: {redact(r.error or '')}"
            else:
                line = f"{r.vendors_exported} vendors -> {where}"
            console.print(f"[bold]{r.connection}[/] {r.mode}: {line}")
            if r.bank_changes:
                console.print(f"  [yellow]bank account changed in Visma[/]: {', '.join(r.bank_changes)}")
    raise typer.Exit(0 if all(r.status != "failed" for r in results) else 1)
