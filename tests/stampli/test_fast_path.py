"""The CSV reader's speed-ups (pass 1 line check, the per-file value cache) must agree with the
full reads.

The full read is the reference: with ``ValueCache.limit = 0`` nothing is cached and every value of
every document goes through ``build``'s field readers, and csv.reader is the reference for
pass 1's count of each key's runs. There is one rule set (``build_invoice``): the cache only feeds it faster.
"""

from __future__ import annotations

import csv
import random
from dataclasses import FrozenInstanceError, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ml_connector.domain.construct import positional_constructor
from ml_connector.domain.documents import InvoiceLine, LineType
from ml_connector.stampli.columns import resolve_header
from ml_connector.stampli.csv_reader import key_function, scan_csv
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.stampli.value_cache import ValueCache
from tests.stampli.util import CANONICAL, NORDIC, invoice_rows, read, set_cell, write_rows


def _view(path: Path, profile: ReaderProfile) -> tuple[Any, ...]:
    result = read(path, profile)
    return (
        result.status,
        [repr(d) for d in result.documents],
        [(r.key, r.raw, r.parsed, r.issues, r.provenance) for r in result.rejected],
        result.issues,
    )


def _both(
    path: Path, profile: ReaderProfile, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fast = _view(path, profile)
    with monkeypatch.context() as m:
        m.setattr(ValueCache, "limit", 0)
        generic = _view(path, profile)
    return fast, generic


VARIANTS: list[tuple[str, list[tuple[int, str, str]]]] = [
    ("as is", []),
    ("zero tax", [(2, "lineTaxAmount", "0.00")]),
    ("naive timestamp", [(5, "approvedAt", "2025-03-07T09:05:12")]),
    ("bad amount", [(3, "lineNetAmount", "12,50")]),
    ("blank required", [(6, "vendorName", " ")]),
    ("header differs", [(3, "vendorName", "Other AS")]),
    ("spaces kept in free text", [(2, "lineDescription", "  Rammeavtale, uke 9  ")]),
    ("line type lower case", [(2, "lineType", "gl")]),
    ("item without code", [(2, "lineType", "ITEM")]),
    ("long amount", [(2, "quantity", "00000000000000001.00")]),
    ("plus sign", [(2, "quantity", "+1")]),
    ("duplicate line number", [(3, "lineNumber", "1")]),
    ("price x qty off", [(9, "quantity", "14")]),
    ("ftp link", [(5, "stampliLink", "ftp://x")]),
    # issue 19: the fast path refuses exactly what the generic path refuses
    ("finer than the minor unit", [(5, "lineTaxAmount", "1862.505"), (5, "taxAmount", "1862.505")]),
    ("trailing zeros", [(5, "lineNetAmount", "7450.000")]),
    ("exchange rate zero", [(5, "exchangeRate", "0.0000")]),
    ("full-width digits", [(5, "lineNetAmount", "\uff17450.00")]),
    ("zero-width space in an id", [(5, "invoiceNumber", "884\u200b12")]),
    ("NUL in a description", [(5, "lineDescription", "a\x00b")]),
    ("decomposed accent in an id", [(5, "invoiceNumber", "884e\u0301")]),
    ("decomposed accent in a name", [(5, "vendorName", "Ame\u0301lie AS")]),
    ("tab in a description", [(5, "description", "a\tb")]),
]


@pytest.mark.parametrize(("name", "changes"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_fast_invoice_builder_matches_the_generic_path(
    name: str, changes: list[tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = invoice_rows()
    for record, column, value in changes:
        set_cell(rows, record, column, value)
    path = write_rows(tmp_path / "stampli_invoices_f.csv", rows)
    fast, generic = _both(path, CANONICAL, monkeypatch)
    assert fast == generic


def test_fast_path_with_custom_extra_and_absent_optional_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = invoice_rows()
    drop = {rows[0].index(c) for c in ("quantity", "costCenter", "postingDate", "description")}
    rows = [[cell for i, cell in enumerate(row) if i not in drop] for row in rows]
    rows[0] += ["custom_batch", "custom_lot", "warehouse"]
    for n, row in enumerate(rows[1:]):
        row += ["B7", f"L{n % 2}", "" if n % 3 else "OSL-2"]
    path = write_rows(tmp_path / "stampli_invoices_c.csv", rows)
    fast, generic = _both(path, CANONICAL, monkeypatch)
    assert fast == generic
    assert fast[0] == "ok"


def test_fast_path_in_the_nordic_dialect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = Path(__file__).parent / "fixtures" / "stampli_invoices_C100234_nordic.csv"
    fast, generic = _both(fixture, NORDIC, monkeypatch)
    assert fast == generic
    assert fast[0] == "ok"


def _exact_runs(path: Path) -> dict[str, int]:
    """Each key's runs of rows as csv.reader reads the file (saturating at 2): the reference."""
    runs: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = resolve_header(next(reader), "invoices", {})
        key_of = key_function("invoices", header)
        previous = None
        for row in reader:
            if not row:
                continue
            key = key_of(row)
            if key != previous:
                runs[key] = min(runs.get(key, 0) + 1, 2)
                previous = key
    return runs


def test_census_never_misses_a_run_of_a_key(tmp_path: Path) -> None:
    """Pass 1 counts each key's runs from raw lines (split while every line is one record with plain
    key cells, else csv.reader over the file): exactly as csv.reader reads the records. A missed
    run would yield a group before its last rows; an extra one would spill a contiguous group."""
    rng = random.Random(11)
    base = invoice_rows()
    header, body = base[0], base[1:]
    id_col, number_col, desc_col, name_col = (
        header.index(c) for c in ("stampliInvoiceId", "invoiceNumber", "lineDescription", "vendorName")
    )
    checked = by_split = 0
    for case in range(150):
        ids = [str(rng.randint(1, 6)) for _ in range(rng.randint(1, 14))]
        quoted_keys = case % 3 == 0
        rows = []
        for n, inv in enumerate(ids):
            row = list(body[n % len(body)])
            row[id_col] = inv
            row[number_col] = f"N{inv}"
            row[desc_col] = rng.choice(["plain"] * 8 + ["two\nlines", 'say ""hi"", ok', "a,b", "x\r\ny"])
            row[name_col] = rng.choice(["AS", "two\nlines", "a,b"]) if case % 5 == 1 else "AS"
            rows.append(row)
        # Columns in another order now and then: a quoted cell before or among the key cells.
        order = list(range(len(header)))
        if case % 2:
            rng.shuffle(order)
        path = tmp_path / f"c{case}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(
                fh,
                lineterminator=rng.choice(["\n", "\r\n"]),
                quoting=csv.QUOTE_ALL if quoted_keys else csv.QUOTE_MINIMAL,
            )
            writer.writerow([header[i] for i in order])
            for row in rows:
                writer.writerow([row[i] for i in order])
                if rng.random() < 0.1:
                    fh.write("\n")  # a blank line: no record
        plan = scan_csv(path, file="f", profile=CANONICAL, kind="invoices")
        exact = _exact_runs(path)
        assert plan.exact == exact, case
        checked += len(exact)
        split = not quoted_keys and all(
            "\n" not in r[c] and "\r" not in r[c] for r in rows for c in (desc_col, name_col)
        )
        by_split += split
    assert checked > 300
    assert 10 < by_split < 140  # both ways of reading were taken


def test_positional_constructor_builds_the_real_frozen_class() -> None:
    names = tuple(f for f in InvoiceLine.__slots__)
    make = positional_constructor(InvoiceLine, names)
    values: list[Any] = (
        [1, LineType.GL, Decimal("2.50"), Decimal("0.63"), "6800"] + [None] * 12 + [{}, {}, 7, None]
    )
    line = make(*values)
    assert type(line) is InvoiceLine
    assert line == InvoiceLine(**dict(zip(names, values, strict=True)))
    assert repr(line) == repr(InvoiceLine(**dict(zip(names, values, strict=True))))
    with pytest.raises(FrozenInstanceError):
        line.line_number = 2  # type: ignore[misc]


def test_positional_constructor_falls_back_to_keywords() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int
        b: str

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int
        b: str

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    assert positional_constructor(NoSlots, ("a", "b"))(1, "x") == NoSlots(1, "x")
    assert positional_constructor(NoSlots, ("b", "a"))("x", 1) == NoSlots(1, "x")
    with pytest.raises(ValueError, match="negative"):
        positional_constructor(Checked, ("a", "b"))(-1, "x")


def test_csv_lines_by_position_match_lines_by_name(tmp_path: Path) -> None:
    """``RawLine.cells`` (read by position) is what the rules would read from ``values`` by name,
    and ``values`` is the mapping a dict per line used to be (also with absent columns)."""
    from dataclasses import replace

    from ml_connector.stampli.build import LINE_CELLS, BuildContext, build_invoice
    from ml_connector.stampli.csv_reader import csv_document, iter_csv_groups, scan_csv

    rows = invoice_rows()
    drop = {rows[0].index(c) for c in ("quantity", "costCenter")}
    rows = [[cell for i, cell in enumerate(row) if i not in drop] for row in rows]
    path = write_rows(tmp_path / "stampli_invoices_p.csv", rows)
    plan = scan_csv(path, file="f", profile=CANONICAL, kind="invoices")
    layout = plan.layout
    seen = 0
    for group in iter_csv_groups(plan, 1000):
        raw, _ = csv_document(plan, group)
        assert raw.line_cells is not None  # build_invoice reads these, no RawLine
        for line, cells, (_, row) in zip(raw.lines, raw.line_cells, group, strict=True):
            expected = dict(zip(layout.line_cols, layout.line_cells(row), strict=True))
            assert dict(line.values) == expected
            assert line.values == expected
            assert line.cells == cells == tuple(expected.get(c) for c in LINE_CELLS)
            seen += 1
        # the same lines as an XML reader gives them: RawLines read by name, no cells by position
        by_name = replace(raw, lines=[replace(line, cells=None) for line in raw.lines], line_cells=None)

        def ctx() -> BuildContext:
            return BuildContext("f", "f", "0", plan.rules, frozenset({"APPROVED"}), Decimal("0.01"), 1000)

        assert build_invoice(raw, ctx()) == build_invoice(by_name, ctx())
    assert seen == len(rows) - 1


def test_amount_table_keeps_what_it_has_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct unit prices fill the amounts table: once full it keeps its texts (no clear and
    refill) and every read still gives what the full read gives. Money is never remembered."""
    from ml_connector.stampli.values import ValueRules

    monkeypatch.setattr(ValueCache, "limit", 3)
    cache = ValueCache()
    read = cache.amount_reader(ValueRules(), None)
    texts = ["1.50", "2.50", "3.50", "4.50", "1.50", "5.125"]
    assert [read(t) for t in texts] == [Decimal(t) for t in texts]
    assert list(cache.amounts) == ["1.50", "2.50", "3.50"]
    money = cache.amount_reader(ValueRules(), "NOK")
    assert money("12.34") == Decimal("12.34")
    assert money("12.345") is None  # finer than the krone's minor unit: the full read reports it
    assert list(cache.amounts) == ["1.50", "2.50", "3.50"]
