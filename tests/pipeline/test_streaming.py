"""A large export costs the pipeline's intake and ``inspect --json`` about the same memory as a small
one (issue 19, point 9): both stream document by document. Measured in fresh child processes
(``bench/memory.py``, the same code as ``bench/run --only memory`` on 194 MiB): the peak RSS grows
by far less than the file's size, where reading the whole file first costs about four times it."""

from __future__ import annotations

from pathlib import Path

from bench.memory import BYTES_PER_LINE, make_export, measure

MIB = 8
PER_INVOICE = 100
# Streaming: about 8 MB whatever the size (measured 7.3 MB at 8 MiB, 8.3 MB at 16 MiB: one document
# at a time, SQLite's page caches). Reading the whole file first cost about 4 x MIB more.
GROWTH_LIMIT_MB = 20


def test_intake_and_inspect_stream_a_large_export(tmp_path: Path) -> None:
    path = make_export(tmp_path, MIB, per_invoice=PER_INVOICE)
    assert path.stat().st_size > (MIB - 1) * 1024**2, path.stat().st_size
    intake = measure("intake", path)
    assert (
        intake["status"] == "processed"
        and intake["documents"] == MIB * 1024**2 // BYTES_PER_LINE // PER_INVOICE
    )
    assert intake["growth_mb"] < GROWTH_LIMIT_MB, intake
    inspect = measure("inspect", path)
    assert inspect["exit_code"] == 0
    assert inspect["growth_mb"] < GROWTH_LIMIT_MB, inspect
