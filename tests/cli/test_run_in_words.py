"""``run`` says what happened to every document (issue 13 point 3), and piped tables are neither cut
nor wrapped at 80 columns, with ``--format csv|json`` where tables exist (point 6).

The packaged samples hold the same batch as CSV and as XML (three of its invoices read differently
from the XML, so the XML copy supersedes the pending CSV copy), and a payment voided before it was
ever posted."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.support.sample_world import INVOICES_CSV, INVOICES_XML, PAYMENTS_CSV, sample_world

XML_NAME = INVOICES_XML[1]


def test_run_names_every_document_that_was_not_simply_posted(tmp_path: Path) -> None:
    with sample_world(tmp_path, [INVOICES_CSV, INVOICES_XML, PAYMENTS_CSV]) as world:
        first = world.cli("run")
        assert first.returncode == 0, first.stdout + first.stderr
        lines = first.stdout.splitlines()
        summary = next(ln for ln in lines if "documents read:" in ln)
        assert "3 superseded by a changed re-export" in summary, summary
        assert "2 already read (not posted again)" in summary and "1 skipped" in summary, summary
        superseded = [ln for ln in lines if ": superseded - " in ln]
        assert len(superseded) == 3, first.stdout
        assert all(XML_NAME in ln for ln in superseded), superseded  # by which file
        already = [ln for ln in lines if "already read, not posted again" in ln]
        assert len(already) == 2, first.stdout
        [void] = [ln for ln in lines if ln.strip().startswith("PAYV:90332014: skipped - ")]
        assert "voided in Stampli before it was posted" in void, void

        again = world.cli("run", "--json")
        [s] = json.loads(again.stdout)
        assert s["files_new"] == 0 and s["documents_new"] == 0 and s["events"] == [], s


def test_piped_tables_are_full_width_and_have_csv_and_json(tmp_path: Path) -> None:
    with sample_world(tmp_path, [INVOICES_CSV, PAYMENTS_CSV]) as world:
        world.env["COLUMNS"] = "80"  # what a terminal-less pipe looked like before
        assert world.cli("run").returncode == 0
        table = world.cli("reconcile", "--period", "2025-03")
        [void] = [ln for ln in table.stdout.splitlines() if "PAYV:90332014" in ln]
        assert len(void) > 80 and "nothing to reverse" in void, table.stdout  # one line, whole
        assert "Kärkkäinen Ohjelmistot Oy" in void

        status = world.cli("status", "--format", "csv")
        assert status.returncode == 0, status.stderr
        [row] = list(csv.DictReader(io.StringIO(status.stdout, newline="")))
        assert row["connection"] == "acme" and int(row["posted"]) >= 7, row
        [as_json] = json.loads(world.cli("status", "--format", "json").stdout)
        assert as_json["connection"] == "acme" and as_json["posted"] == row["posted"]

        failures = world.cli("failures", "--format", "json")
        assert failures.returncode == 0 and json.loads(failures.stdout) == [], failures.stdout
        bad = world.cli("status", "--format", "xml")
        assert bad.returncode != 0 and "--format" in bad.stderr
