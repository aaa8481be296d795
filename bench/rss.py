"""Peak memory of this process, as the benchmarks quote it."""

from __future__ import annotations

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's high-water RSS (VmHWM). Not ``ru_maxrss``: Linux carries that over from the
    parent's RSS at fork, through exec, so a child of a large process (``bench/run``, pytest) would
    show its parent's size as its own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")
