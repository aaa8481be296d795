"""``ml-connector demo``: the whole product on the embedded default, in under a minute."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ml_connector import service
from ml_connector.config.model import POSTING_TARGETS
from ml_connector.entrypoints.cli.app import app
from ml_connector.entrypoints.cli.output import make_console

if TYPE_CHECKING:
    from ml_connector.demo.run import DemoResult


@app.command("demo")
def demo(
    invoices: Annotated[int, typer.Option("--invoices", min=1, help="How many invoices to generate.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with the summary.")] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the work folder (ledger, archive, config).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=0, help="Run it with N `ml-connector worker` processes (needs --database)."
        ),
    ] = 0,
    database: Annotated[
        str | None,
        typer.Option("--database", help="PostgreSQL URL for --workers (the shared ledger and queue)."),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="After the story, keep the simulators and the dashboard running on the demo's data "
            "(prints the URL and a login) until Ctrl-C or SIGTERM.",
        ),
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Dashboard port for --serve (0: any free one).")] = 8470,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="Where invoices are posted: journal (journal transactions) or supplier_invoice "
            "(Visma's supplier ledger).",
        ),
    ] = "journal",
) -> None:
    """Run the main job against an embedded SFTP server and the Visma simulator: no credentials needed."""
    if target not in POSTING_TARGETS:
        raise typer.BadParameter(f"--target must be one of {', '.join(POSTING_TARGETS)}")
    if workers or database:
        if target != "journal":
            raise typer.BadParameter("--target supplier_invoice is not available with --workers yet")
        if not (workers and database):
            raise typer.BadParameter("--workers N and --database URL go together")
        from ml_connector.demo.scaled import run_scaled_demo

        s = asyncio.run(run_scaled_demo(invoices, workers=workers, database_url=database, keep=keep))
        raise typer.Exit(_print(s, as_json=as_json, keep_dir=s.get("workdir")))

    from ml_connector.demo.run import run_demo  # the whole product: imported when a demo runs
    from ml_connector.demo.serve import serve_demo

    async def then(result: DemoResult, application: service.App) -> None:
        """The story first, then the dashboard on its data until Ctrl-C or SIGTERM."""
        _print(result.summary, as_json=as_json, keep_dir=str(result.workdir) if keep else None)
        await serve_demo(application, result.workdir, port=port)

    result = asyncio.run(run_demo(invoices, keep=keep, then=then if serve else None, target=target))
    if serve:
        typer.echo("demo stopped" + (f"; work folder kept: {result.workdir}" if keep else ""))
        raise typer.Exit(_ok(result.summary))
    raise typer.Exit(_print(result.summary, as_json=as_json, keep_dir=str(result.workdir) if keep else None))


def _ok(s: dict[str, Any]) -> int:
    ok = s["duplicates_in_visma"] == 0 and s["reconciliation"]["missing"] == 0 and not s["errors"]
    ok = ok and s.get("supplier_documents", {}).get("unexpected", 0) == 0  # a balance Visma got wrong
    return 0 if ok else 1


def _print(s: dict[str, Any], *, as_json: bool, keep_dir: str | None) -> int:
    if as_json:
        typer.echo(json.dumps(s, ensure_ascii=False))
    else:
        console = make_console()
        console.print(
            f"[bold]ml-connector demo[/]: {s['invoices']} invoices and {s['payments']} payments "
            "exported by Stampli"
        )
        if s.get("coding_lists"):
            lists = ", ".join(f"{name} {v['values']}" for name, v in s["coding_lists"].items())
            console.print(
                f"Stampli's inbound folders: {s['vendors_exported']} suppliers in /inbound/vendors,"
                f" Visma's coding lists in /inbound/masterdata ({lists})"
            )
        waiting = " and the payments of those invoices" if s.get("target") == "supplier_invoice" else ""
        console.print(
            f"cycle 1: {s['posted_first_cycle']} posted, {s['parked_first_cycle']} parked "
            f"(cost center {('0450')} missing in Visma{waiting}) in {s['seconds']['first_cycle']}s"
        )
        console.print(
            f"cost center 0450 created in Visma; cycle 2: {s['replayed']} replayed automatically, "
            f"1 payment void reversed, in {s['seconds']['second_cycle']}s"
        )
        sent = s.get("coding_lists_delta", {}).get("cost_centers", {}).get("keys", [])
        if sent:
            console.print(f"Stampli's cost-center list updated with {', '.join(sent)} (a delta file)")
        table = Table("outcome", "documents")
        for k, v in s["reconciliation"].items():
            table.add_row(k, str(v))
        console.print(table)
        console.print(
            f"posted {s['posted']}, parked {s['parked_now']}, duplicates in Visma {s['duplicates_in_visma']}"
        )
        if s.get("target") == "supplier_invoice":
            console.print(
                f"supplier ledger: {s['supplier_invoices_with_our_reference']} supplier invoices, "
                f"{s['released']} released, {s['attachments']} with the invoice image attached"
            )
            d = s["supplier_documents"]
            console.print(
                f"supplier payments: {s['supplier_payments']}; supplier documents: {d['paid_closed']} paid "
                f"(Closed, balance 0), {d['partly_paid_open']} part-paid (Open with the rest), "
                f"{d['unpaid_open']} unpaid, {d['unexpected']} unexpected; "
                f"{d['payments_voided']} payment voided by a VoidPayment"
            )
        if "workers" in s:
            per = ", ".join(f"{w}: {n}" for w, n in sorted(s["posted_by_worker"].items()))
            console.print(f"{s['workers']} workers over PostgreSQL; documents posted per worker: {per}")
        if keep_dir:
            console.print(
                f"work folder kept: {keep_dir} (its master key is in master.key, mode 0600; "
                f"`ml-connector dashboard -c {keep_dir}/ml-connector.toml` opens it)"
            )
        for err in s["errors"]:
            console.print(f"[red]error[/]: {err}")
    return _ok(s)
