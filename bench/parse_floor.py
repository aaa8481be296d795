"""What a CSV reader with *no rules at all* costs, next to ``csv.reader`` (issue 18's CSV ratio).

    .venv/bin/python bench/parse_floor.py                    # 1,000,000 lines, 3 runs
    .venv/bin/python bench/parse_floor.py --lines 200000 --repeat 1

The issue asks the reader for >= 0.35 of raw ``csv.reader`` rows/s. This script measures the floor
under that figure: the least any reader must do to hand out the same ``Invoice`` objects, with none
of the checks. On the same generated file as ``bench/parse_speed.py`` (4 lines per invoice), in one
fresh child process per run and in CPU seconds (``time.process_time``), it times:

- ``csv.reader`` over every row (the ratio's denominator);
- **floor**: ``csv.reader`` in batches of 512 rows, rows grouped by their invoice id (consecutive
  runs, one C call per batch), each group's later rows compared with its first row's invoice cells
  (one tuple compare per row), each column turned into its values in one C call (``Decimal``,
  ``str.strip``, dictionary lookups for line numbers, types and dates), then ``InvoiceLine`` and
  ``Invoice`` built with the reader's own positional constructors. No field is checked: no required
  field, no ASCII or control-character rule, no amount shape, no sums, no company, no field count or
  size, and any value it does not expect raises;
- **floor + census**: the same after the reader's real pass 1 (``scan_csv``: the header and the
  per-key count of contiguous groups that lets pass 2 yield a document as soon as its rows end).

A reader that applies the rule set does everything the floor does and more, so its ratio is below the
floor's: these numbers bound what any amount of tuning in Python can reach. docs/performance.md
quotes them.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from itertools import compress, islice
from operator import itemgetter, ne
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench import parse_memory  # noqa: E402

PER_INVOICE = 4
BATCH = 512


def _floor(path: str) -> tuple[int, int]:
    """Invoices and lines built from ``path`` with no rule applied (see the module's docstring)."""
    from ml_connector.domain.construct import field_names, positional_constructor
    from ml_connector.domain.documents import DocumentType, Invoice, InvoiceLine, LineType, Provenance
    from ml_connector.stampli.columns import INVOICE_HEADER_COLUMNS

    new_line = positional_constructor(InvoiceLine, field_names(InvoiceLine))
    new_invoice = positional_constructor(Invoice, field_names(Invoice))
    new_provenance = positional_constructor(Provenance, field_names(Provenance))
    ints = {str(i): i for i in range(1, 10_000)}
    line_types = {t.value: t for t in LineType}
    doc_types = {t.value: t for t in DocumentType}
    dates: dict[str, date] = {}
    stamps: dict[str, datetime] = {}

    def day(text: str) -> date:
        got = dates.get(text)
        if got is None:
            got = dates[text] = date.fromisoformat(text)
        return got

    def stamp(text: str) -> datetime:
        got = stamps.get(text)
        if got is None:
            got = stamps[text] = datetime.fromisoformat(text)
        return got

    def opt(col: tuple[str, ...]) -> list[str | None]:
        return [t.strip() or None for t in col] if not all(col) else list(map(str.strip, col))

    def amounts(col: tuple[str, ...]) -> list[Decimal | None]:
        return list(map(Decimal, col)) if all(col) else [Decimal(t) if t else None for t in col]

    invoices = lines = 0
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        at = {name: i for i, name in enumerate(header)}
        doc_cells = itemgetter(*[at[c] for c in INVOICE_HEADER_COLUMNS if c in at])
        id_col = at["stampliInvoiceId"]
        c_company, c_id, c_type, c_number, c_vendor, c_name = (
            at[c]
            for c in (
                "stampliCompanyId",
                "stampliInvoiceId",
                "documentType",
                "invoiceNumber",
                "vendorId",
                "vendorName",
            )
        )
        c_date, c_due, c_currency, c_sub, c_tax, c_total = (
            at[c]
            for c in ("invoiceDate", "dueDate", "currency", "subtotalAmount", "taxAmount", "totalAmount")
        )
        c_status, c_approved, c_exported, c_link, c_text, c_approvers = (
            at[c]
            for c in ("approvalStatus", "approvedAt", "exportedAt", "stampliLink", "description", "approvers")
        )

        def groups() -> Iterator[list[list[str]]]:
            """Batches of whole groups: a batch's last group waits for the next batch."""
            carry: list[list[str]] = []
            while True:
                got = list(islice(reader, BATCH))
                rows = carry + got
                if not got:
                    if rows:
                        yield rows
                    return
                last = rows[-1][id_col]
                cut = len(rows)
                while cut > 0 and rows[cut - 1][id_col] == last:
                    cut -= 1
                carry = rows[cut:]
                if cut:
                    yield rows[:cut]

        for rows in groups():
            n = len(rows)
            ids = list(map(itemgetter(id_col), rows))
            starts = [0, *compress(range(1, n), map(ne, ids[1:], ids[:-1]))]
            ends = [*starts[1:], n]
            heads = list(map(doc_cells, rows))
            for a, b in zip(starts, ends, strict=True):  # a group's later rows repeat its first's cells
                first = heads[a]
                if any(h != first for h in heads[a + 1 : b]):
                    raise ValueError("header mismatch")
            cols = dict(zip(header, zip(*rows, strict=True), strict=True))
            net = list(map(Decimal, cols["lineNetAmount"]))  # required: in every row
            tax = list(map(Decimal, cols["lineTaxAmount"]))
            none = [None] * n
            built = list(
                map(
                    new_line,
                    map(ints.__getitem__, cols["lineNumber"]),
                    map(line_types.__getitem__, cols["lineType"]),
                    net,
                    tax,
                    opt(cols["glAccount"]),
                    opt(cols["itemCode"]),
                    [t or None for t in cols["lineDescription"]],
                    amounts(cols["quantity"]),
                    amounts(cols["unitPrice"]),
                    opt(cols["taxCode"]),
                    amounts(cols["taxRate"]),
                    opt(cols["department"]),
                    opt(cols["costCenter"]),
                    opt(cols["location"]),
                    opt(cols["class"]),
                    opt(cols["project"]),
                    opt(cols["poLineNumber"]),
                    [{} for _ in range(n)],
                    [{} for _ in range(n)],
                    range(2, n + 2),
                    none,
                )
            )
            for a, b in zip(starts, ends, strict=True):
                h = rows[a]
                new_invoice(
                    h[c_company].strip(),
                    h[c_id].strip() or None,
                    doc_types[h[c_type]],
                    h[c_number].strip(),
                    h[c_vendor].strip(),
                    h[c_name].strip(),
                    day(h[c_date]),
                    day(h[c_due]),
                    h[c_currency],
                    Decimal(h[c_sub]),
                    Decimal(h[c_tax]),
                    Decimal(h[c_total]),
                    h[c_status],
                    stamp(h[c_approved]),
                    stamp(h[c_exported]),
                    tuple(built[a:b]),
                    new_provenance(path, "", tuple(range(a + 2, b + 2)), None, None),
                    h[c_link] or None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    h[c_text] or None,
                    tuple(filter(None, h[c_approvers].split("|"))),
                    {},
                    {},
                    None,
                )
                sum(net[a:b], Decimal(0))
                sum(tax[a:b], Decimal(0))
                invoices += 1
            lines += n
    return invoices, lines


def _census(path: str) -> None:
    """The reader's real pass 1 over ``path`` (header, encoding, per-key group starts)."""
    from ml_connector.stampli.csv_reader import scan_csv
    from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderLimits

    profile = replace(
        BUILTIN_PROFILES["canonical"], limits=ReaderLimits(max_file_bytes=4 * 1024**3, max_rows=5_000_000)
    )
    scan_csv(Path(path), file=path, profile=profile, kind="invoices")


def child(path: str) -> dict[str, Any]:
    from bench.parse_speed import csv_reader_cpu

    rows, csv_s = csv_reader_cpu(path)
    t0 = time.process_time()
    invoices, lines = _floor(path)
    floor_s = time.process_time() - t0
    t1 = time.process_time()
    _census(path)
    census_s = time.process_time() - t1
    return {
        "csv_rows": rows,
        "csv_cpu_s": csv_s,
        "invoices": invoices,
        "lines": lines,
        "floor_s": floor_s,
        "census_s": census_s,
        "floor_ratio": (lines / floor_s) / (rows / csv_s),
        "floor_census_ratio": (lines / (floor_s + census_s)) / (rows / csv_s),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print only the result as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ml-connector-floor-") as tmp:
        path = Path(tmp) / "stampli_invoices_floor.csv"
        parse_memory.generate(path, "csv", args.lines, PER_INVOICE, 0.0, 1)
        for n in range(args.repeat):
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
            if run["lines"] != args.lines:
                raise SystemExit(f"the floor built {run['lines']} lines, not {args.lines}")
            runs.append(run)
            if not args.json:
                print(
                    f"run {n + 1}/{args.repeat}: csv.reader {run['csv_cpu_s']:.2f} s, "
                    f"floor {run['floor_s']:.2f} s "
                    f"(ratio {run['floor_ratio']:.3f}), census {run['census_s']:.2f} s "
                    f"(floor + census: ratio {run['floor_census_ratio']:.3f})",
                    flush=True,
                )
    result = {
        "lines": args.lines,
        "runs": runs,
        "floor_ratio": round(statistics.median(r["floor_ratio"] for r in runs), 3),
        "floor_census_ratio": round(statistics.median(r["floor_census_ratio"] for r in runs), 3),
        "method": "bench/parse_floor.py: one fresh child per run, CPU seconds; see its docstring",
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"median ratio: floor {result['floor_ratio']}, floor + census {result['floor_census_ratio']} "
            "(the reader's goal: 0.35)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
