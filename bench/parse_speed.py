"""Stampli reader throughput (issue 9): canonical documents/s against raw ``csv.reader`` rows/s.

    .venv/bin/python bench/parse_speed.py                       # 1,000,000 CSV lines, 3 runs
    .venv/bin/python bench/parse_speed.py --lines 200000 --repeat 1 --xml-lines 100000
    .venv/bin/python bench/parse_speed.py --json                # one JSON object on stdout

One canonical CSV (4 lines per invoice, bench/parse_memory.py's generator) and one canonical XML
file are generated into a temporary directory. Then, per run, one fresh child process times, on the
*same* file and in that same process, ``csv.reader`` over every row (no values built: the floor any
reader pays) and then ``iter_export`` over the file (both passes, every check, canonical ``Invoice``
objects), and reports its peak RSS (VmHWM). Times are the process's CPU time (``time.process_time``): on a
machine shared with other work, waiting for a core is not counted, so both sides of the ratio see
the same load. The target is ``ratio_lines = reader lines/s / csv.reader rows/s >= 0.35`` and peak
RSS <= 150 MB at 1,000,000 lines; the XML reader (its own child) is quoted against the CSV reader of
the same run (``xml_to_csv``, goal >= 0.5). ``measure(lines)`` returns the result as a dict (used by
bench/run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench import parse_memory  # noqa: E402
from bench.rss import peak_rss_mb  # noqa: E402

PER_INVOICE = 4
TARGET_RATIO = 0.35
RSS_LIMIT_MB = 150.0


def csv_reader_cpu(path: str) -> tuple[int, float]:
    """Rows (without the header) and CPU seconds of raw ``csv.reader`` over the file."""
    started = time.process_time()
    rows = 0
    with open(path, encoding="utf-8", newline="") as fh:
        for _ in csv.reader(fh):
            rows += 1
    return rows - 1, time.process_time() - started


def child_reader(path: str, *, with_csv: bool) -> dict[str, Any]:
    """``iter_export`` over the file in CPU seconds, after raw ``csv.reader`` over it when
    ``with_csv`` (the other side of the ratio, in this same process)."""
    from ml_connector.stampli.profile import BUILTIN_PROFILES, ReaderLimits
    from ml_connector.stampli.read import RejectedRecord, iter_export

    raw: dict[str, Any] = {}
    if with_csv:
        rows, cpu = csv_reader_cpu(path)
        raw = {"csv_rows": rows, "csv_cpu_s": cpu}
    profile = replace(
        BUILTIN_PROFILES["canonical"], limits=ReaderLimits(max_file_bytes=4 * 1024**3, max_rows=5_000_000)
    )
    w0 = time.perf_counter()
    t0 = time.process_time()
    stream = iter_export(Path(path), profile=profile)
    t1 = time.process_time()
    docs = lines = rejected = 0
    for item in stream:
        if isinstance(item, RejectedRecord):
            rejected += 1
        else:
            docs += 1
            lines += len(item.lines)  # type: ignore[union-attr]
    t2 = time.process_time()
    return {
        **raw,
        "documents": docs,
        "lines": lines,
        "rejected": rejected,
        "issues": len(stream.issues),
        "pass1_s": t1 - t0,
        "pass2_s": t2 - t1,
        "seconds": t2 - t0,
        "wall_s": time.perf_counter() - w0,
        "peak_rss_mb": peak_rss_mb(),
    }


def _run_child(mode: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), f"--child-{mode}", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _summary(values: list[float], digits: int = 0) -> dict[str, Any]:
    med = statistics.median(values)
    return {
        "median": round(med, digits) if digits else round(med),
        "min": round(min(values), digits) if digits else round(min(values)),
        "max": round(max(values), digits) if digits else round(max(values)),
        "runs": [round(v, digits) if digits else round(v) for v in values],
    }


def measure(
    lines: int = 1_000_000,
    *,
    repeat: int = 1,
    xml_lines: int | None = None,
    work: Path | None = None,
    log: Any = None,
) -> dict[str, Any]:
    """Generate the files, run csv.reader / the CSV reader / the XML reader ``repeat`` times each
    (fresh child processes), and return the numbers. ``xml_lines`` defaults to ``lines // 5``
    (0 skips XML)."""
    xml_n = lines // 5 if xml_lines is None else xml_lines
    with tempfile.TemporaryDirectory(prefix="ml-connector-speed-", dir=work) as tmp:
        csv_path = Path(tmp) / "stampli_invoices_bench.csv"
        xml_path = Path(tmp) / "stampli_invoices_bench.xml"
        t0 = time.perf_counter()
        invoices = parse_memory.generate(csv_path, "csv", lines, PER_INVOICE, 0.0, 1)
        gen_s = time.perf_counter() - t0
        csv_bytes = csv_path.stat().st_size
        xml_invoices = parse_memory.generate(xml_path, "xml", xml_n, PER_INVOICE, 0.0, 1) if xml_n else 0
        xml_bytes = xml_path.stat().st_size if xml_n else 0
        raw_rates: list[float] = []
        line_rates: list[float] = []
        doc_rates: list[float] = []
        ratios: list[float] = []
        xml_ratios: list[float] = []
        pass1: list[float] = []
        pass2: list[float] = []
        rss: list[float] = []
        xml_rates: list[float] = []
        xml_rss: list[float] = []
        ok = True
        for n in range(repeat):
            rd = _run_child("both", csv_path)
            raw_rate = rd["csv_rows"] / rd["csv_cpu_s"]
            line_rate = rd["lines"] / rd["seconds"]
            raw_rates.append(raw_rate)
            line_rates.append(line_rate)
            doc_rates.append(rd["documents"] / rd["seconds"])
            ratios.append(line_rate / raw_rate)
            pass1.append(rd["pass1_s"])
            pass2.append(rd["pass2_s"])
            rss.append(rd["peak_rss_mb"])
            ok = ok and rd["documents"] == invoices and rd["lines"] == lines and rd["rejected"] == 0
            if xml_n:
                xr = _run_child("reader", xml_path)
                xml_rates.append(xr["lines"] / xr["seconds"])
                xml_ratios.append(xml_rates[-1] / line_rate)
                xml_rss.append(xr["peak_rss_mb"])
                ok = ok and xr["documents"] == xml_invoices and xr["rejected"] == 0
            if log is not None:
                log(
                    f"run {n + 1}/{repeat}: csv.reader {raw_rate:,.0f} rows/s, "
                    f"reader {line_rate:,.0f} lines/s (pass 1 {rd['pass1_s']:.2f} s, "
                    f"pass 2 {rd['pass2_s']:.2f} s), ratio {line_rate / raw_rate:.3f}, "
                    f"peak RSS {rd['peak_rss_mb']:.0f} MB"
                    + (f"; XML {xml_rates[-1]:,.0f} lines/s ({xml_ratios[-1]:.2f} of CSV)" if xml_n else "")
                    + f"; load average {os.getloadavg()[0]:.1f}"
                )
    ratio = _summary(ratios, 3)
    peak = max(rss)
    return {
        "command": f"{sys.executable} bench/parse_speed.py --lines {lines} --repeat {repeat}",
        "csv_file": {
            "lines": lines,
            "invoices": invoices,
            "lines_per_invoice": PER_INVOICE,
            "bytes": csv_bytes,
            "mib": round(csv_bytes / 1024**2, 1),
            "generated_in_s": round(gen_s, 1),
        },
        "xml_file": {
            "lines": xml_n,
            "invoices": xml_invoices,
            "bytes": xml_bytes,
            "mib": round(xml_bytes / 1024**2, 1),
        },
        "repeat": repeat,
        "csv_reader_rows_per_second": _summary(raw_rates),
        "canonical_lines_per_second": _summary(line_rates),
        "canonical_documents_per_second": _summary(doc_rates),
        "ratio_lines": ratio,
        "pass1_s": _summary(pass1, 2),
        "pass2_s": _summary(pass2, 2),
        "peak_rss_mb": round(peak, 1),
        "xml_lines_per_second": _summary(xml_rates) if xml_rates else None,
        "xml_peak_rss_mb": round(max(xml_rss), 1) if xml_rss else None,
        "xml_to_csv": _summary(xml_ratios, 3) if xml_ratios else None,
        "load_average": round(os.getloadavg()[0], 1),
        "documents_ok": ok,
        "target_ratio": TARGET_RATIO,
        "target_met": ok and ratio["median"] >= TARGET_RATIO and (lines < 1_000_000 or peak <= RSS_LIMIT_MB),
        "method": (
            f"canonical CSV of {lines:,} invoice lines ({PER_INVOICE} per invoice, bench/parse_memory.py's "
            "generator); per run, one fresh child process times csv.reader over every row, then "
            "iter_export (both passes, every check, Invoice objects) on that same file, in CPU seconds "
            "(time.process_time). ratio_lines = reader lines/s / csv.reader rows/s of that process; "
            "median and range over the runs. Peak RSS = that child's VmHWM (its own high-water mark). XML: "
            f"{xml_n:,} lines, iter_export in its own child, CPU lines/s; xml_to_csv = XML lines/s / "
            "CSV reader lines/s of the same run."
        ),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--xml-lines", type=int, default=None, help="default: lines // 5; 0 skips XML")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print only the result as JSON")
    ap.add_argument("--child-both", help=argparse.SUPPRESS)
    ap.add_argument("--child-reader", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_both:
        print(json.dumps(child_reader(args.child_both, with_csv=True)))
        return 0
    if args.child_reader:
        print(json.dumps(child_reader(args.child_reader, with_csv=False)))
        return 0

    def say(msg: str) -> None:
        if not args.json:
            print(msg, flush=True)

    say(f"$ {' '.join([sys.executable, *sys.argv])}")
    result = measure(args.lines, repeat=args.repeat, xml_lines=args.xml_lines, log=say)
    if args.json:
        print(json.dumps(result))
        return 0 if result["target_met"] else 1
    f, x = result["csv_file"], result["xml_file"]
    for name, info in (("CSV", f), ("XML", x)):
        if info["lines"]:
            say(
                f"{name} file: {info['lines']:,} lines / {info['invoices']:,} invoices, "
                f"{info['bytes']:,} bytes ({info['mib']} MiB)"
            )

    def line(label: str, s: dict[str, Any] | None, unit: str) -> None:
        if s is not None:
            say(f"{label:<34} median {s['median']:>10,} {unit}  [{s['min']:,} - {s['max']:,}]")

    line("csv.reader", result["csv_reader_rows_per_second"], "rows/s")
    line("reader (canonical invoice lines)", result["canonical_lines_per_second"], "lines/s")
    line("reader (canonical invoices)", result["canonical_documents_per_second"], "docs/s")
    line("pass 1", result["pass1_s"], "s")
    line("pass 2", result["pass2_s"], "s")
    line("XML reader", result["xml_lines_per_second"], "lines/s")
    if result["xml_to_csv"] is not None:
        x2c = result["xml_to_csv"]
        say(f"XML / CSV reader lines/s: median {x2c['median']} [{x2c['min']} - {x2c['max']}] (goal >= 0.5)")
    r = result["ratio_lines"]
    say(f"ratio lines/s / rows/s: median {r['median']} [{r['min']} - {r['max']}] (target >= {TARGET_RATIO})")
    say(
        f"peak RSS: CSV {result['peak_rss_mb']} MB, XML {result['xml_peak_rss_mb']} MB "
        f"(limit {RSS_LIMIT_MB} MB at 1,000,000 lines)"
    )
    say(("PASS" if result["target_met"] else "FAIL") + f": documents ok = {result['documents_ok']}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
