"""How the CLI prints tables: a rich table on a terminal, full width when piped (never cut to 80
columns), or ``--format csv|json`` for machines. CSV cells are neutralised against spreadsheet
formulas as in every CSV ml-connector writes (``csv_cells.neutralise``)."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ml_connector.csv_cells import neutralise

FORMATS = ("table", "csv", "json")
FormatOpt = Annotated[str, typer.Option("--format", help="table (default), csv or json")]
PIPED_WIDTH = 100_000  # wide enough that no table or line is ever cut or wrapped when piped


def make_console(*, stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all when the output is piped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPED_WIDTH)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    return fmt


def print_table(
    console: Console,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    fmt: str = "table",
    *,
    show_lines: bool = False,
) -> None:
    """Print rows under ``columns`` as a table, CSV (header row first) or JSON (a list of objects)."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([neutralise(str(cell)) for cell in row] for row in rows)
        typer.echo(buf.getvalue(), nl=False)
        return
    if fmt == "json":
        typer.echo(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], ensure_ascii=False))
        return
    table = Table(*columns, show_lines=show_lines)
    for row in rows:
        table.add_row(*row)
    console.print(table)


OUTCOME_WORDS = {
    "already_read": "already read, not posted again",
    "superseded": "superseded",
    "skipped": "skipped",
    "conflict": "in conflict (see `ml-connector failures`)",
    "read_again": "read again (its earlier file broke off); waits for this file",
}


def run_in_words(s: Mapping[str, Any]) -> list[str]:
    """One cycle's summary for a person: counts in words, then every document that was not simply
    new or posted, with what happened to it and why."""
    waiting = f" ({s['waiting']} documents of them wait for them, not posted)" if s.get("waiting") else ""
    lines = [
        f"{s['connection']}: {s['status']} in {s['seconds']}s",
        f"  files: {s['files_new']} new, {s['files_skipped']} already seen, {s['files_rejected']} rejected"
        + waiting,
        f"  documents read: {s['documents_new']} new, {s['duplicates']} already read (not posted again), "
        f"{s['superseded']} superseded by a changed re-export, {s['skipped']} skipped, "
        f"{s['conflicts']} in conflict, {s['records_rejected']} rejected records",
        f"  to Visma: {s['posted']} posted, {s['parked']} parked (see `ml-connector failures`), "
        f"{s['auto_replayed']} replayed, {s['already_in_visma']} already in Visma (not sent again)",
    ]
    if s.get("images_fetched") or s.get("attached"):  # an export without images says nothing of them
        lines.append(
            f"  invoice images: {s.get('images_fetched', 0)} downloaded, {s.get('images_missing', 0)} "
            f"missing (posted without, or parked with posting.require_image), {s.get('attached', 0)} "
            "attached in Visma"
        )
    events = list(s.get("events", []))
    for e in events:
        lines.append(f"  {e['document']}: {OUTCOME_WORDS.get(e['outcome'], e['outcome'])} - {e['detail']}")
    listed = s["duplicates"] + s["superseded"] + s["skipped"] + s["conflicts"]
    if listed > len(events):
        lines.append(f"  ... {listed - len(events)} more not listed (`run --json` has the counts)")
    return lines
