"""The idle cycle (issue 18): a whole cycle over an invoices folder of N files the ledger already
lists as processed, next to the floor it cannot go below, measured in the same run.

    .venv/bin/python -m bench.idle                  # 10,000 files, 5 cycles (needs root: a real sshd)
    .venv/bin/python -m bench.idle --profile        # and where one cycle's time goes (cProfile)

The floor (``baseline``) is what any idle cycle must do over SFTP: one login to the same sshd and
one listing of each folder, with asyncssh directly (no connector code). The figure that travels
between machines is ``ratio_to_baseline``: idle cycle seconds / baseline seconds, both medians of
runs that alternate, so a change of load hits both alike. ``bench/run``'s sftp section calls
``measure``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncssh
import sqlalchemy as sa
from tests.support.sshd import OpenSshServer

from bench.lib import Connection, SimProcess, make_batch, start_openssh
from ml_connector import service
from ml_connector.ledger.schema import files
from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.runtime import Runtime

# Where a cycle's time goes: the functions whose cumulative time the profile reports (substring
# of "file:line(function)"), in the order a cycle runs them.
PHASES = (
    ("ledger: start/finish the run row", ("(start_run)", "(finish_run)")),
    ("identity check", ("(ensure_identity)",)),
    ("Visma: token", ("auth.py", "(_fetch)")),
    ("Visma: master-data refresh", ("refresh.py", "(refresh)")),
    ("settle", ("posting.py", "(settle)")),
    ("auto-replay", ("(auto_replay)",)),
    ("resume downloaded files", ("(resume_downloaded_files)",)),
    ("SFTP: login", ("connection.py", "(open_session)")),
    ("SFTP: list folders", ("listing.py", "(list_folders)")),
    ("ledger: which files are new", ("(not_taken_in)",)),
    ("adopt booked", ("booked.py", "(adopt_booked)")),
    ("post pending", ("posting.py", "(post_pending)")),
)


def seed_processed(c: Connection, rt: Runtime, ledger: Ledger, n_files: int) -> int:
    """``n_files`` small exports in the invoices folder, each recorded in the ledger as processed
    (one bulk insert with the listed path, size and mtime instead of n real intakes). Returns the
    number of files the listing shows."""
    folder = f"{c.remote_root}/invoices"
    text = make_batch(1, 930).invoice_files[0][1]
    stamp = time.time() - 7200
    # mtimes all in the past (stamp - i): none looks like a file still being written
    for i in range(n_files):
        c.sftp.put(folder, f"stampli_invoices_C100234_20250301T000000Z_{i:05d}.csv", text, mtime=stamp - i)

    async def listing() -> list[Any]:
        async with rt.stampli() as src:
            return await src.list_ready(f"/{folder.strip('/')}")

    remote = asyncio.run(listing())
    now = utcnow()
    with ledger.tx() as conn:
        conn.execute(
            files.insert(),
            [
                {
                    "connection": rt.name,
                    "kind": "invoices",
                    "remote_path": f.path,
                    "size": f.size,
                    "mtime": f.mtime,
                    "sha256": f"{i:064x}",
                    "status": "processed",
                    "archive_path": None,
                    "documents": 1,
                    "issues": [],
                    "first_seen": now,
                    "processed_at": now,
                }
                for i, f in enumerate(remote)
            ],
        )
    return len(remote)


async def _raw_listing(ssh: OpenSshServer, folders: tuple[str, ...]) -> int:
    """The floor: log in with asyncssh (password, the pinned host key) and list each folder once."""
    known = asyncssh.import_known_hosts(f"[{ssh.host}]:{ssh.port} {ssh.host_public_key}\n")
    seen = 0
    async with (
        asyncssh.connect(
            ssh.host,
            ssh.port,
            username=ssh.user,
            password=ssh.password,
            known_hosts=known,
            client_keys=None,
            agent_path=None,
            config=None,
            gss_auth=False,
        ) as conn,
        conn.start_sftp_client() as sftp,
    ):
        for folder in folders:
            seen += len(await sftp.readdir(folder))
    return seen


def baseline_seconds(ssh: OpenSshServer, folders: tuple[str, ...]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one raw login and listing."""
    started, cpu = time.monotonic(), time.process_time()
    asyncio.run(_raw_listing(ssh, folders))
    return time.monotonic() - started, time.process_time() - cpu


def measure(c: Connection, n_files: int, repeats: int, *, profile: bool = False) -> dict[str, Any]:
    """Seed the folder and the ledger, then ``repeats`` idle cycles alternating with the baseline."""
    app = service.open_app(c.config_path, environ=c.environ, settle_after=timedelta(0))
    try:
        rt = app.runtime(c.name)
        listed = seed_processed(c, rt, app.ledger, n_files)
        with app.ledger.tx() as conn:
            known = conn.execute(sa.select(sa.func.count()).select_from(files)).scalar_one()
        folders = (rt.config.sftp.invoices_folder, rt.config.sftp.payments_folder)
        asyncio.run(run_cycle(rt))  # the first cycle of a process: imports, master data cached
        times: list[float] = []
        cpu: list[float] = []
        floor: list[float] = []
        floor_cpu: list[float] = []
        results: list[CycleResult] = []
        for _ in range(repeats):  # alternate, so load changes hit both alike
            wall, used = baseline_seconds(c.sftp, folders)
            floor.append(wall)
            floor_cpu.append(used)
            started = time.process_time()
            result = asyncio.run(run_cycle(rt))
            cpu.append(time.process_time() - started)
            results.append(result)
            times.append(result.seconds)
        where = _profile(rt) if profile else None
    finally:
        app.close()
    last = results[-1]
    cycle, base = statistics.median(times), statistics.median(floor)
    out: dict[str, Any] = {
        "files_in_folder": listed,
        "files_in_ledger": known,
        "seconds": [round(t, 3) for t in times],
        "median_seconds": round(cycle, 3),
        "baseline_seconds": [round(t, 3) for t in floor],
        "baseline_median_seconds": round(base, 3),
        "ratio_to_baseline": round(cycle / base, 2),
        # CPU seconds of this process: what a busy machine inflates least (the waits drop out)
        "cpu_seconds": [round(t, 3) for t in cpu],
        "cpu_median_seconds": round(statistics.median(cpu), 3),
        "baseline_cpu_median_seconds": round(statistics.median(floor_cpu), 3),
        "cpu_ratio_to_baseline": round(statistics.median(cpu) / statistics.median(floor_cpu), 2),
        "downloaded": sum(r.intake.files_new for r in results),
        "skipped_per_cycle": last.intake.files_skipped,
        "posted": sum(r.posting.posted for r in results),
        "status": last.status,
        "method": (
            f"after one warm-up cycle, {repeats} run_cycle calls in process (refresh master data, settle, "
            "SFTP login, list both folders, compare with the ledger, post nothing), each after a "
            "baseline: an asyncssh login to the same sshd and one readdir of each folder; medians of wall "
            "seconds and of this process's CPU seconds. The ledger rows were bulk-inserted as 'processed' "
            "with the listed path, size and mtime."
        ),
    }
    if where is not None:
        out["profile"] = where
    return out


def _profile(rt: Runtime) -> dict[str, Any]:
    """One more idle cycle under cProfile: cumulative seconds of each phase (CPU and waits of the
    event loop while the phase's coroutine ran; the Visma side and the listing overlap)."""
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    asyncio.run(run_cycle(rt))
    profiler.disable()
    total = time.monotonic() - started
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    phases: dict[str, float] = {}
    for label, needles in PHASES:
        best = 0.0
        for (file, line, func), (_cc, _nc, _tt, ct, _callers) in table.items():
            where = f"{file}:{line}({func})"
            if all(n in where for n in needles):
                best = max(best, ct)
        phases[label] = round(best, 4)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    return {"cycle_seconds_profiled": round(total, 3), "phases": phases, "top_tottime": text.getvalue()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="one more cycle under cProfile, by phase")
    args = ap.parse_args()
    ssh = start_openssh()
    work = Path(tempfile.mkdtemp(prefix="ml-connector-bench-idle-"))
    sim = SimProcess(work)
    try:
        c = Connection(work / "idle", ssh, sim, "/idle", release=False)
        load = [round(x, 2) for x in os.getloadavg()]
        result = measure(c, args.files, args.repeats, profile=args.profile)
        result["load_average"] = {"start": load, "end": [round(x, 2) for x in os.getloadavg()]}
    finally:
        sim.stop()
        ssh.remove()
        shutil.rmtree(work, ignore_errors=True)
    top = result.get("profile", {}).pop("top_tottime", "")
    print(json.dumps(result, indent=2))
    if top:
        print(top, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
