"""The §4.6 writer: canonical dialect, sorting, BOM, and the CSV-injection guard (which must round-trip)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.csv_cells import is_plain_negative_number
from ml_connector.vendors import csvfile
from ml_connector.vendors.csvfile import COLUMNS, neutralise, parse, render, restore


def _row(vid: str, **values: str) -> dict[str, str]:
    return {**{c: "" for c in COLUMNS}, "vendorId": vid, "vendorName": f"V{vid}", "active": "true", **values}


def test_header_is_the_section_4_6_column_list() -> None:
    first = render([]).split(b"\r\n")[0].decode()
    assert first == (
        "vendorId,vendorName,active,legalName,orgNumber,vatNumber,email,phone,addressLine1,addressLine2,"
        "postalCode,city,region,countryCode,currencyId,terms,paymentMethod,iban,bic,bankAccountNumber,"
        "bankRoutingNumber,bankName,vendorClass,defaultGlAccount,defaultTaxCode,lastModified"
    )


def test_canonical_dialect_utf8_comma_crlf_sorted_no_bom() -> None:
    data = render([_row("20011", vendorName="Åkesson & Söner AB"), _row("10023", city="Oslo, sentrum")])
    assert not data.startswith(csvfile.BOM)
    text = data.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert lines[1].startswith("10023,V10023,true,") and '"Oslo, sentrum"' in lines[1]
    assert lines[2].startswith("20011,Åkesson & Söner AB,true,")
    assert len(lines) == 4 and lines[3] == ""


def test_bom_only_when_the_profile_asks() -> None:
    data = render([_row("1")], bom=True)
    assert data.startswith(b"\xef\xbb\xbfvendorId,")
    assert parse(data)[0]["vendorId"] == "1"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+47 22 00 00 00", "'+47 22 00 00 00"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("'=1+1", "''=1+1"),  # already looks guarded: one more apostrophe, so it reads back as itself
        ("''@x", "'''@x"),
        ("Nordlys AS", "Nordlys AS"),
        ("'quoted'", "'quoted'"),  # an apostrophe not followed by a trigger is left alone
        ("a=b", "a=b"),
        ("", ""),
        # A negative amount stays a number for the spreadsheet: nothing in it can be evaluated.
        ("-6237.50", "-6237.50"),
        ("-.5", "-.5"),
        ("-1e3", "'-1e3"),  # not a plain amount: guarded
        ("-1,5", "'-1,5"),
        ("-12.50 ", "'-12.50 "),
        ("'-6237.50", "''-6237.50"),
    ],
)
def test_injection_cells_are_neutralised_and_round_trip(value: str, cell: str) -> None:
    assert neutralise(value) == cell
    assert restore(cell) == value
    data = render([_row("1", vendorName=value or "x", legalName=value)])
    raw = next(r for r in csv.reader(io.StringIO(data.decode(), newline="")) if r[0] == "1")
    written = raw[COLUMNS.index("legalName")]
    assert written == cell
    # a spreadsheet sees text, or a plain negative number
    assert not written or written[0] not in csvfile.TRIGGERS or is_plain_negative_number(written)
    assert parse(data)[0]["legalName"] == value


@given(st.text(alphabet=st.sampled_from(list("'=+-@\t\r\nab,\" 1.")), max_size=8))
def test_guard_is_a_bijection(value: str) -> None:
    cell = neutralise(value)
    assert restore(cell) == value
    assert not cell or cell[0] not in csvfile.TRIGGERS or is_plain_negative_number(cell)
    assert parse(render([_row("1", legalName=value)]))[0]["legalName"] == value
