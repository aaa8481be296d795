"""Input limits: a file over a limit is rejected with a clear issue (no crash, bounded memory), and
every limit is configurable per reader profile in the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.config.loader import load_config
from ml_connector.pipeline.runtime import reader_profile
from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderLimits, ReaderProfile
from ml_connector.stampli.read import read_export

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "ml_connector" / "samples"
CSV = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.csv"
XML = SAMPLES / "stampli_invoices_C100234_20250310T071500Z_0001.xml"


def _profile(**limits: int) -> ReaderProfile:
    return BUILTIN_PROFILES["canonical"].with_(limits=ReaderLimits(**limits))


def test_safe_defaults() -> None:
    d = ReaderLimits()
    assert d.max_file_bytes == 200 * 1024 * 1024
    assert (d.max_rows, d.max_field_chars, d.max_xml_depth) == (2_000_000, 100_000, 64)


@pytest.mark.parametrize("sample", [CSV, XML], ids=["csv", "xml"])
def test_samples_pass_the_default_limits(sample: Path) -> None:
    result = read_export(sample, profile=BUILTIN_PROFILES["canonical"])
    assert result.status != "rejected" and result.documents


@pytest.mark.parametrize(
    ("sample", "limits", "code"),
    [
        (CSV, {"max_file_bytes": 100}, "file_too_large"),
        (XML, {"max_file_bytes": 100}, "file_too_large"),
        (CSV, {"max_rows": 2}, "too_many_rows"),
        (XML, {"max_rows": 2}, "too_many_rows"),
        (XML, {"max_field_chars": 5}, "field_too_large"),
        (XML, {"max_xml_depth": 2}, "xml_too_deep"),
    ],
)
def test_limit_violation_rejects_the_file_with_a_clear_issue(
    sample: Path, limits: dict[str, int], code: str
) -> None:
    result = read_export(sample, profile=_profile(**limits))
    assert result.status == "rejected"
    assert result.documents == []
    codes = [i.code for i in result.issues]
    assert code in codes, result.issues
    issue = result.issues[codes.index(code)]
    limit = str(next(iter(limits.values())))
    assert limit in issue.message  # the message says which limit was hit


def test_oversized_csv_field_is_rejected(tmp_path: Path) -> None:
    big = tmp_path / CSV.name
    text = CSV.read_text(encoding="utf-8")
    big.write_text(text.replace("Kontorrekvisita og inventar", "X" * 5000, 1), encoding="utf-8")
    result = read_export(big, profile=_profile(max_field_chars=1000))
    assert result.status == "rejected"
    issue = next(i for i in result.issues if i.code == "field_too_large")
    assert "1000" in issue.message


def test_deep_xml_bomb_is_rejected_without_recursion_error(tmp_path: Path) -> None:
    bomb = tmp_path / "stampli_invoices_C100234_20250310T071500Z_0009.xml"
    bomb.write_text(
        '<?xml version="1.0"?><StampliInvoiceExport companyId="C100234">'
        + "<Invoice>" * 5000
        + "</Invoice>" * 5000
        + "</StampliInvoiceExport>",
        encoding="utf-8",
    )
    result = read_export(bomb, profile=BUILTIN_PROFILES["canonical"])
    assert result.status == "rejected"
    assert "xml_too_deep" in [i.code for i in result.issues]


def test_entity_expansion_is_not_performed(tmp_path: Path) -> None:
    lol = tmp_path / "stampli_invoices_C100234_20250310T071500Z_0008.xml"
    lol.write_text(
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefg", "bcdefgh", strict=True)
        )
        + "]><StampliInvoiceExport>&h;</StampliInvoiceExport>",
        encoding="utf-8",
    )
    result = read_export(lol, profile=BUILTIN_PROFILES["canonical"])
    assert result.status == "rejected"
    assert result.documents == []


def test_limits_are_configurable_per_profile(tmp_path: Path) -> None:
    from tests.config.samples import BASE, ENV  # a small valid configuration

    text = BASE.replace(
        'stampli_company_id = "C100234"\n', 'stampli_company_id = "C100234"\nprofile = "small"\n', 1
    ) + (
        "\n[profiles.small]\nlimits = { max_file_bytes = 1000, max_rows = 10,"
        " max_field_chars = 50, max_xml_depth = 8 }\n"
    )
    path = tmp_path / "ml-connector.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ=ENV)
    profile = reader_profile(config.connections[0])
    assert profile.limits == ReaderLimits(
        max_file_bytes=1000, max_rows=10, max_field_chars=50, max_xml_depth=8
    )
    assert read_export(CSV, profile=profile).status == "rejected"
    with pytest.raises(ValueError, match=r"limits\.max_rows: must be a positive integer"):
        ReaderProfile.from_mapping({"limits": {"max_rows": 0}}, name="bad")
