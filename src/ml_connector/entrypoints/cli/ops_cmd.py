"""CLI commands of the main flow: run, serve, status, failures, replay, preview, reconcile, check.

Each command only parses options, calls ``ml_connector.service`` and prints.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ml_connector import exitcodes, service
from ml_connector.entrypoints.cli.app import app
from ml_connector.entrypoints.cli.output import (
    FormatOpt,
    check_format,
    make_console,
    print_table,
    run_in_words,
)
from ml_connector.logs import configure
from ml_connector.redaction import redact
from ml_connector.service.reconcile_report import to_csv, totals
from ml_connector.service.reconcile_report import to_json as recon_json

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="ML_CONNECTOR_CONFIG",
        help="The configuration file (see `ml-connector init`).",
    ),
]
ConnOpt = Annotated[str | None, typer.Option("--connection", help="Only this connection.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_CONFIG = Path("ml-connector.toml")
console = make_console()


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _dump(data: Any) -> None:
    typer.echo(redact(json.dumps(data, default=_json_default, ensure_ascii=False)))


@contextmanager
def _app(config: Path, **runtime_options: Any) -> Iterator[service.App]:
    application = service.open_app(config, **runtime_options)
    log = application.config.log
    configure(log.level, log.format, log.file)
    try:
        yield application
    finally:
        application.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


@app.command("run")
def run(config: ConfigOpt = DEFAULT_CONFIG, connection: ConnOpt = None, as_json: JsonOpt = False) -> None:
    """Run one cycle for every enabled connection (or one): settle, take in new files, post."""
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console)
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with _app(config, on_progress=None if as_json else on_progress) as application:
        if as_json:
            results = asyncio.run(service.run_once(application, connection))
        else:
            with progress:
                results = asyncio.run(service.run_once(application, connection))
    if as_json:
        _dump([r.summary() for r in results])
    else:
        for r in results:
            for line in run_in_words(r.summary()):
                console.print(line, markup=False, highlight=False)
            for err in r.errors:
                console.print(f"  [red]error[/]: {escape(redact(err))}")
    code = exitcodes.for_run(results)
    if code != exitcodes.OK and not as_json:
        console.print(f"exit {code}: {exitcodes.MEANING[code]}")
    raise typer.Exit(code)


@app.command("serve")
def serve(
    config: ConfigOpt = DEFAULT_CONFIG,
    host: Annotated[str, typer.Option("--host", help="Dashboard address (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Dashboard port.")] = 8470,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Run the cycles only.")] = False,
) -> None:
    """Run every connection on its poll interval until stopped (SIGINT/SIGTERM finish the cycle),
    with the dashboard on http://HOST:PORT/ in the same process (see `users add`)."""
    from ml_connector.web.server import serve_with_dashboard, uvicorn_config

    with _app(config) as application:
        web = None if no_dashboard else uvicorn_config(application, host, port)
        if web is not None:
            console.print(f"dashboard on http://{host}:{port}/")
        asyncio.run(serve_with_dashboard(application, web))


@app.command("status")
def status(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False, fmt: FormatOpt = "table") -> None:
    """Documents per state, open failures and the last run of each connection."""
    check_format(fmt)
    with _app(config) as application:
        data = service.status(application)
    if as_json:
        _dump(data)
        return
    rows: list[list[str]] = []
    for row in data:
        docs = dict(row["documents"])
        posted, parked, pending = docs.pop("posted", 0), docs.pop("parked", 0), docs.pop("pending", 0)
        reading = docs.pop("reading", 0)  # of files not read to their end: not posted until they are
        last = row["last_run"]
        last_text = f"{last['status']} at {last['started_at']:%Y-%m-%d %H:%M}" if last else "never"
        rows.append(
            [
                row["connection"],
                str(posted),
                str(parked),
                str(pending),
                str(reading),
                str(sum(docs.values())),
                str(row["open_failures"]),
                last_text,
                str(row["already_in_visma"]),
                ", ".join(f"{p}: {n}" for p, n in row["unreleased"].items()) or "0",
            ]
        )
    columns = (
        "connection",
        "posted",
        "parked",
        "pending",
        "reading",
        "other",
        "open failures",
        "last run",
        "already in Visma",
        "unreleased by period",
    )
    print_table(console, columns, rows, fmt)


@app.command("failures")
def failures(
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
    as_json: JsonOpt = False,
    fmt: FormatOpt = "table",
) -> None:
    """Open failures: what, why, and who can fix it."""
    check_format(fmt)
    with _app(config) as application:
        rows = service.failures(application, connection)
    if as_json:
        _dump(rows)
        return
    if not rows and fmt == "table":
        console.print("no open failures")
        return
    cells = [
        [str(r["id"]), r["connection"], r["doc_key"] or "(file)", r["who_can_fix"], redact(r["reason"])]
        for r in rows
    ]
    columns = ("id", "connection", "document", "who can fix it", "reason")
    print_table(console, columns, cells, fmt, show_lines=True)


@app.command("replay")
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Failure ids (see `failures`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every open failure.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
    as_json: JsonOpt = False,
    set_aside: Annotated[
        bool,
        typer.Option(
            "--set-aside",
            help="Instead of reading them again, set the rejected files of these failures aside "
            "(never read again; the failure closes, the archived copy stays).",
        ),
    ] = False,
) -> None:
    """Replay failures from the stored records (never a new download), then post them."""
    if not ids and not all_:
        raise typer.BadParameter("give failure ids or --all")
    if set_aside:
        _set_aside(list(ids or []), all_, config, connection, as_json)
        return
    with _app(config) as application:
        result, cycles = asyncio.run(
            service.replay_failures(
                application, None if all_ else list(ids or []), actor=_actor(), connection=connection
            )
        )
    data = {
        "requeued": result.requeued,
        "files_reread": result.files_reread,
        "refused": result.refused,
        "cycles": [c.summary() for c in cycles],
    }
    if as_json:
        _dump(data)
    else:
        console.print(
            f"requeued {len(result.requeued)} documents, read {len(result.files_reread)} files again"
        )
        for c in cycles:
            s = c.summary()
            console.print(f"{c.connection}: {s['posted']} posted, {s['parked']} parked again")
        for why in result.refused:
            console.print(f"[yellow]not replayed[/]: {why}")
    raise typer.Exit(0 if not result.refused else 1)


def _set_aside(ids: list[int], all_: bool, config: Path, connection: str | None, as_json: bool) -> None:
    if all_:
        raise typer.BadParameter("--set-aside takes failure ids, not --all: set files aside one by one")
    from ml_connector.service.set_aside import set_aside_failures

    with _app(config) as application:
        result = set_aside_failures(application, ids, actor=_actor(), connection=connection)
    if as_json:
        _dump({"set_aside": result.files, "refused": result.refused})
    else:
        for name in result.files:
            console.print(f"set aside: {name} (it is not read again)")
        for why in result.refused:
            console.print(f"[yellow]not set aside[/]: {why}")
    raise typer.Exit(0 if not result.refused else 1)


@app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A local Stampli export file.")],
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Everything, with the Visma payloads.")] = False,
    fmt: FormatOpt = "table",
) -> None:
    """What `run` would do with a local file, per document: post, park (and why), skip (and why) or
    already read. Writes nothing. Exits 1 when any document has a problem or the file has issues."""
    check_format(fmt)
    with _app(config) as application:
        data = service.preview(application, file, connection)
    if as_json:
        _dump(data)
    else:
        rows = [
            [
                d["key"],
                d["action"],
                d["vendor"],
                d["number"],
                f"{d['amount']} {d['currency']}".strip(),
                " ".join(d["accounts"]),
                " ".join(d["cost_centers"]),
                redact("; ".join(d["problems"]) or d.get("detail", "")),
            ]
            for d in data["documents"]
        ]
        columns = ("document", "action", "vendor", "number", "amount", "accounts", "cost centers", "problems")
        print_table(console, columns, rows, fmt)
        if fmt == "table":
            for issue in data["issues"]:
                console.print(f"[yellow]{issue.get('level', 'issue')}[/]: {redact(str(issue))}", markup=True)
            console.print(
                f"{len(data['documents'])} documents in {data['file']}: {data['problems']} with a problem"
            )
    ok = data["problems"] == 0 and data["status"] == "ok"
    raise typer.Exit(0 if ok else 1)


@app.command("reconcile")
def reconcile(
    period: Annotated[str, typer.Option("--period", help="YYYY-MM")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    config: ConfigOpt = DEFAULT_CONFIG,
    connection: ConnOpt = None,
) -> None:
    """Compare, per document, what Stampli approved with what Visma holds for a period."""
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    with _app(config) as application:
        by_conn = asyncio.run(service.reconcile_period(application, period, connection))
    rows = [r for rs in by_conn.values() for r in rs]
    if fmt == "csv":
        typer.echo(to_csv(rows), nl=False)
    elif fmt == "json":
        typer.echo(recon_json(rows))
    else:
        table = Table(
            "document", "outcome", "vendor", "number", "currency", "amount", "in Visma", "batch", "detail"
        )
        for r in rows:
            table.add_row(
                r.doc_key,
                r.outcome,
                r.vendor,
                r.number,
                r.currency,
                r.amount,
                r.visma_total,
                r.batch_number,
                r.detail,
            )
        console.print(table)
        console.print(" ".join(f"{k}={v}" for k, v in totals(rows).items()))
    bad = sum(1 for r in rows if r.outcome not in ("matched", "not_posted", "skipped", "already_in_visma"))
    raise typer.Exit(0 if bad == 0 else 1)


@app.command("check")
def check(config: ConfigOpt = DEFAULT_CONFIG, connection: ConnOpt = None, as_json: JsonOpt = False) -> None:
    """Check both sides at once: SFTP login, host key and folders; Visma credentials, company and
    every mapped account and segment; the ledger's identity. Exit 0 only when every check passed."""
    with _app(config) as application:
        rows = asyncio.run(service.check(application, connection))
    if as_json:
        _dump([r.__dict__ for r in rows])
    else:
        table = Table("connection", "side", "check", "result", "detail")
        for r in rows:
            table.add_row(
                r.connection,
                r.side,
                escape(r.check),
                "[green]ok[/]" if r.ok else "[red]FAILED[/]",
                escape(redact(r.detail)),  # details name keys such as [connections.acme.visma]
            )
        console.print(table)
    raise typer.Exit(exitcodes.OK if all(r.ok for r in rows) else exitcodes.FAILED)
