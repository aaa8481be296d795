"""ReaderProfile.from_mapping reports every problem; built-in profiles exist and are sane."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.entrypoints.cli.app import app
from ml_connector.stampli.codes import ISSUE_CODES
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderLimits, ReaderProfile
from tests.stampli.util import INVOICES_CSV


def test_builtin_profiles() -> None:
    assert {"canonical", "nordic", "us"} <= BUILTIN_PROFILES.keys()
    nordic = BUILTIN_PROFILES["nordic"]
    assert (
        nordic.decimal_sep == "," and "%d.%m.%Y" in nordic.date_formats and "%Y-%m-%d" in nordic.date_formats
    )
    assert BUILTIN_PROFILES["us"].date_formats[0] == "%m/%d/%Y"
    default = BUILTIN_PROFILES["canonical"]
    assert default.timezone == "Europe/Oslo" and default.amount_tolerance == Decimal(0)
    assert default.approved_statuses == frozenset({"APPROVED"})  # issue 19: only APPROVED posts
    assert default.limits == ReaderLimits(200 * 1024 * 1024, 2_000_000, 100_000, 64)


def test_from_mapping_builds_a_profile() -> None:
    p = ReaderProfile.from_mapping(
        {
            "delimiter": "tab",
            "encoding": "cp1252",
            "decimal_sep": ",",
            "thousands_sep": " ",
            "date_formats": ["%d.%m.%Y"],
            "timezone": "Europe/Stockholm",
            "header_aliases": {"Fakturanr": "invoice_number"},
            "company_id": "C100234",
            "amount_tolerance": "0.01",
            "approved_statuses": ["approved"],
            "limits": {"max_rows": 10},
        },
        name="tenant-a",
    )
    assert p.name == "tenant-a" and p.delimiter == "\t" and p.decimal_sep == "," and p.thousands_sep == " "
    assert p.header_aliases == {"fakturanr": "invoiceNumber"}
    assert p.amount_tolerance == Decimal("0.01") and p.approved_statuses == frozenset({"APPROVED"})
    assert p.limits.max_rows == 10 and p.limits.max_field_chars == 100_000


def test_from_mapping_reports_all_problems_at_once() -> None:
    with pytest.raises(ValueError) as info:
        ReaderProfile.from_mapping(
            {
                "delimiter": "|",
                "encoding": "no-such-codec",
                "decimal_sep": ";",
                "date_formats": ["%d/%m/%Y", "%m/%d/%Y"],
                "timezone": "Mars/Olympus",
                "header_aliases": {"x": "notAColumn"},
                "amount_tolerance": 0.01,
                "limits": {"max_rows": -1, "bogus": 1},
                "colour": "blue",
            },
            name="bad",
        )
    problems = info.value.args[0]
    assert isinstance(problems, list)
    text = "\n".join(problems)
    for needle in (
        "delimiter", "no-such-codec", "decimal_sep", "DD/MM", "Mars/Olympus", "notAColumn",
        "no floats", "max_rows", "bogus", "colour",
    ):  # fmt: skip
        assert needle in text, needle
    assert len(problems) >= 10


def test_issue_codes_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "stampli-readers.md").read_text("utf-8")
    for code in ISSUE_CODES:
        assert f"`{code}`" in doc, code


def test_inspect_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    assert runner.invoke(app, ["inspect", str(INVOICES_CSV)]).exit_code == 0
    assert runner.invoke(app, ["inspect", str(INVOICES_CSV), str(bad)]).exit_code == 1
    assert runner.invoke(app, ["inspect", "--profile", "nope", str(INVOICES_CSV)]).exit_code == 2
    assert runner.invoke(app, ["inspect", str(tmp_path / "missing.csv")]).exit_code == 2
    assert runner.invoke(app, ["inspect"]).exit_code == 2


def test_inspect_partial_file_exits_zero_and_reports_rows(tmp_path: Path) -> None:
    import json

    text = INVOICES_CSV.read_text("utf-8").replace(
        "APPROVED,2025-03-07T09:05:12", "PENDING,2025-03-07T09:05:12"
    )
    path = tmp_path / "stampli_invoices_p.csv"
    path.write_text(text, "utf-8")
    result = CliRunner().invoke(app, ["inspect", "--json", str(path)])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["status"] == "partial" and len(out["documents"]) == 4
    assert out["issues"] == [
        {
            "level": "error",
            "code": "not_approved",
            "message": "approvalStatus 'PENDING' is not approved (APPROVED)",
            "file": str(path),
            "row": 5,
            "field": "approvalStatus",
            "document": "INV:41877219",
        }
    ]


def test_inspect_accepts_a_profile_file(tmp_path: Path) -> None:
    prof = tmp_path / "tenant.toml"
    prof.write_text('company_id = "C999"\n', "utf-8")
    result = CliRunner().invoke(app, ["inspect", "--profile", str(prof), str(INVOICES_CSV)])
    assert result.exit_code == 1 and "company_mismatch" in result.stdout
    prof.write_text("delimiter = 5\n", "utf-8")
    assert CliRunner().invoke(app, ["inspect", "--profile", str(prof), str(INVOICES_CSV)]).exit_code == 2
