"""``inspect --json`` over a file the reader cannot read and a good one: one JSON object per file,
the bad one rejected with its reason, the good one still read (issue 19, points 1 and 9)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ml_connector.entrypoints.cli.app import app

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "ml_connector" / "samples"
XML = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.xml"
CSV = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.csv"


def test_a_bad_file_is_reported_and_the_next_one_read(tmp_path: Path) -> None:
    text = XML.read_text("utf-8")
    assert 'invoiceCount="5"' in text
    bad = tmp_path / "stampli_invoices_bad.xml"
    bad.write_text(text.replace('invoiceCount="5"', 'invoiceCount="⁵"'), "utf-8")  # made the reader raise
    result = CliRunner().invoke(app, ["inspect", "--json", str(bad), str(CSV)])
    assert result.exit_code == 1, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["file"] == str(bad) and first["status"] == "rejected" and first["documents"] == []
    assert first["issues"] and all(i["file"] == str(bad) for i in first["issues"])
    assert second["status"] == "ok" and len(second["documents"]) == 5 and second["kind"] == "invoices"
