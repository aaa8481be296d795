"""``bench/chaos``: a long randomized fault run. Every approved invoice and payment must end up in
Visma exactly once.

    bench/chaos                          # 20 rounds of 5,000 invoices
    bench/chaos --rounds 2 --invoices 300 --seed 7

Each round writes a new Stampli export (``--invoices`` invoices with new ids, 2 % of the unpaid ones
not approved, and the payments of 40 % of the invoices) to a real OpenSSH server, starts
``ml-connector run`` as a user would, SIGKILLs it at a random moment, and starts it again (the
restart runs to its end). All along, the Visma simulator (its own process) injects 10 % 5xx before
processing, 5 % creates that commit and then drop the connection without an answer, tokens that
die after 2 s, and bursts of 429 (a 5-calls-per-second limit for about a second, now and then);
and every few seconds the SFTP connection is cut by killing the server side of it.

At the end the connector runs until its ledger has nothing open (faults still on, then at most a
few cycles with the faults off: a document that needs those is reported), and the simulator's
journal is checked: each expected reference on exactly one batch, nothing not approved, nothing
unknown. With ``--lose-ledger-after N`` the ledger is deleted after round N (a lost database): the
fresh one must find what the old one posted in Visma and never send it again. The tally is
printed (and written as JSON with ``--json``); the exit code is 0 only with zero duplicates and
zero missing.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.support.sshd import OpenSshServer

from bench.lib import Connection, SimProcess, machine, make_batch, references_in_visma, start_openssh
from ml_connector import service
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.booked import FOUND_IN_VISMA

FAULTS = "5xx=0.1,drop_after_commit=0.05,token_ttl=2s"
NORMAL_LIMIT = "1000000/3600"
BURST_LIMIT = "5/1"


@dataclass
class Tally:
    rounds: int = 0
    kills: int = 0
    runs: int = 0
    finished_before_kill: int = 0
    expected: int = 0
    not_approved: int = 0
    posted: int = 0
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    settle_cycles: int = 0
    ledger_lost_after_round: int | None = None
    adopted: int = 0  # documents the final ledger found already in Visma (not sent again)
    settle_cycles_without_faults: int = 0
    sftp_drops: int = 0
    bursts_429: int = 0
    sim: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.duplicates == 0 and self.missing == 0 and self.unexpected == 0


class Disturber:
    """Background thread: 429 bursts on the simulator and SFTP connection drops."""

    def __init__(self, sim: SimProcess, ssh: OpenSshServer, rng: random.Random, *, sftp_every: float) -> None:
        self.sim, self.ssh, self.rng = sim, ssh, rng
        self.sftp_every = sftp_every
        self.stop_event = threading.Event()
        self.bursts = 0
        self.drops = 0
        self.thread = threading.Thread(target=self._loop, name="chaos-disturber", daemon=True)

    def __enter__(self) -> Disturber:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)
        self.sim.set_rate_limit(NORMAL_LIMIT)

    def _loop(self) -> None:
        next_burst = time.monotonic() + self.rng.uniform(2, 6)
        next_drop = time.monotonic() + self.rng.uniform(0.5, self.sftp_every)
        while not self.stop_event.wait(0.1):
            now = time.monotonic()
            try:
                if now >= next_burst:
                    self.sim.set_rate_limit(BURST_LIMIT)
                    self.bursts += 1
                    self.stop_event.wait(self.rng.uniform(0.5, 1.5))
                    self.sim.set_rate_limit(NORMAL_LIMIT)
                    next_burst = time.monotonic() + self.rng.uniform(3, 10)
                if now >= next_drop:
                    if self.ssh.drop_connections():
                        self.drops += 1
                    next_drop = time.monotonic() + self.rng.uniform(0.5, self.sftp_every)
            except Exception as exc:
                print(f"[chaos] disturber: {exc}", file=sys.stderr)


def _open_documents(c: Connection) -> list[str]:
    app = service.open_app(c.config_path, environ=c.environ)
    try:
        rows = app.ledger.documents_with_status(c.name, [*DocStatus.OPEN])
        return [f"{r.doc_key}={r.status}" for r in rows]
    finally:
        app.close()


def _adopted(c: Connection) -> int:
    app = service.open_app(c.config_path, environ=c.environ)
    try:
        return len(app.ledger.keys_with_action(c.name, FOUND_IN_VISMA))
    finally:
        app.close()


def _lose_ledger(c: Connection) -> None:
    """Delete the SQLite ledger (and its journal files): the next run starts from an empty one."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        (c.workdir / f"ledger.db{suffix}").unlink(missing_ok=True)


def _run(c: Connection, *, kill_after: float | None, timeout: float) -> tuple[bool, float]:
    """One ``ml-connector run``; SIGKILLed after ``kill_after`` seconds if still running.
    Returns (killed, seconds)."""
    started = time.monotonic()
    with (c.workdir / "connector.log").open("ab") as log:
        proc = subprocess.Popen(
            c.cli_argv("run", "--json"), env=c.environ, cwd=c.workdir, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        proc.wait(timeout=kill_after if kill_after is not None else timeout)
        return False, time.monotonic() - started
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)  # our own child, by its pid
        proc.wait(timeout=30)
        if kill_after is None:
            raise RuntimeError(f"ml-connector run did not finish within {timeout} s") from None
        return True, time.monotonic() - started


def chaos(
    *,
    rounds: int = 20,
    invoices: int = 5000,
    seed: int = 1,
    faults: str = FAULTS,
    workdir: Path | None = None,
    sftp_every: float = 5.0,
    run_timeout: float = 3600.0,
    log: bool = True,
    lose_ledger_after: int | None = None,
    target: str = "journal",
) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    started = time.monotonic()
    work = workdir or Path(tempfile.mkdtemp(prefix="ml-connector-chaos-"))
    ssh = start_openssh()
    sim = SimProcess(work, faults=f"{faults},seed={seed}", rate_limit=NORMAL_LIMIT)
    expected: set[str] = set()
    not_approved: set[str] = set()

    def say(text: str) -> None:
        if log:
            print(f"[chaos {time.monotonic() - started:7.1f}s] {text}", file=sys.stderr, flush=True)

    try:
        c = Connection(work / "connector", ssh, sim, "/chaos", release=True, target=target)
        estimate = max(5.0, invoices * 0.05)  # first guess of a run's length; then measured
        with Disturber(sim, ssh, rng, sftp_every=sftp_every) as disturber:
            for r in range(rounds):
                batch = make_batch(invoices, r, seed=seed, not_approved=0.02)
                for name, text in batch.invoice_files:
                    c.put("invoices", name, text)
                for name, text in batch.payment_files:
                    c.put("payments", name, text)
                expected |= batch.expected
                not_approved |= batch.not_approved
                kill_after = rng.uniform(0.5, estimate)
                killed, secs = _run(c, kill_after=kill_after, timeout=run_timeout)
                tally.runs += 1
                tally.kills += killed
                tally.finished_before_kill += not killed
                _, secs2 = _run(c, kill_after=None, timeout=run_timeout)
                tally.runs += 1
                estimate = max(5.0, secs2 if not killed else max(secs2, secs))
                tally.rounds += 1
                say(
                    f"round {r + 1}/{rounds}: {'killed after' if killed else 'finished in'} {secs:.1f} s, "
                    f"restart ran {secs2:.1f} s"
                )
                if lose_ledger_after == r + 1 and r + 1 < rounds:
                    _lose_ledger(c)
                    tally.ledger_lost_after_round = r + 1
                    say("ledger deleted: the next round starts with an empty one")
            # Settle with the faults still on.
            for _ in range(10):
                if not _open_documents(c):
                    break
                _run(c, kill_after=None, timeout=run_timeout)
                tally.settle_cycles += 1
                tally.runs += 1
        tally.bursts_429, tally.sftp_drops = disturber.bursts, disturber.drops
        open_docs = _open_documents(c)
        if open_docs:
            sim.set_faults("", reset=True)
            for _ in range(3):
                _run(c, kill_after=None, timeout=run_timeout)
                tally.settle_cycles_without_faults += 1
                tally.runs += 1
                if not _open_documents(c):
                    break
            tally.details["open_before_faults_off"] = open_docs[:20]
        tally.details["open_at_end"] = _open_documents(c)[:20]
        tally.adopted = _adopted(c)
        found = references_in_visma(sim.journal(), sim.supplier_documents(), sim.supplier_payments())
        dup = {ref: n for ref, n in found.items() if n > 1}
        missing = sorted(expected - set(found))
        unexpected = sorted(set(found) - expected)
        tally.expected = len(expected)
        tally.not_approved = len(not_approved)
        tally.posted = len(set(found) & expected)
        tally.duplicates = len(dup)
        tally.missing = len(missing)
        tally.unexpected = len(unexpected)
        tally.details.update(
            {
                "duplicate_refs": dict(list(dup.items())[:20]),
                "missing_refs": missing[:20],
                "unexpected_refs": unexpected[:20],
            }
        )
        stats = sim.stats()
        tally.sim = {
            "api_requests": stats["total"],
            "injected_5xx": stats["injected_5xx"],
            "dropped_after_commit": stats["dropped_after_commit"],
            "answered_429": stats["rate_limited"],
            "token_requests": stats["requests"].get("POST /connect/token", 0),
            "answered_401": sum(int(v.get("401", 0)) for v in stats["statuses"].values()),
        }
    finally:
        sim.stop()
        ssh.remove()
        tally.seconds = round(time.monotonic() - started, 1)
        if workdir is None:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--invoices", type=int, default=5000, help="new invoices per round")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults", default=FAULTS, help="the simulator's fault spec (docs/simulator.md)")
    ap.add_argument("--sftp-every", type=float, default=5.0, help="an SFTP drop every 0.5..N seconds")
    ap.add_argument("--lose-ledger-after", type=int, help="delete the ledger after round N (a lost database)")
    ap.add_argument("--json", type=Path, help="also write the tally here")
    ap.add_argument(
        "--target",
        choices=("journal", "supplier_invoice"),
        default="journal",
        help="posting.target of the run",
    )
    args = ap.parse_args()
    tally = chaos(
        rounds=args.rounds,
        invoices=args.invoices,
        seed=args.seed,
        faults=args.faults,
        sftp_every=args.sftp_every,
        lose_ledger_after=args.lose_ledger_after,
        target=args.target,
    )
    data = {
        **asdict(tally),
        "ok": tally.ok,
        "machine": machine(),
        "args": vars(args) | {"json": str(args.json)},
    }
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(
        f"rounds {tally.rounds}  kills {tally.kills}  runs {tally.runs}  expected {tally.expected}  "
        f"posted {tally.posted}  duplicates {tally.duplicates}  missing {tally.missing}  "
        f"unexpected {tally.unexpected}  (not approved, never posted: {tally.not_approved})"
    )
    if tally.ledger_lost_after_round:
        print(
            f"ledger deleted after round {tally.ledger_lost_after_round}: "
            f"{tally.adopted} documents found already in Visma, not sent again"
        )
    print(
        f"faults seen: {tally.sim.get('injected_5xx')} 5xx, {tally.sim.get('dropped_after_commit')} creates "
        f"dropped after commit, {tally.sim.get('answered_429')} x 429 in {tally.bursts_429} bursts, "
        f"{tally.sim.get('answered_401')} x 401 (token expiry), {tally.sftp_drops} SFTP drops; "
        f"settle cycles {tally.settle_cycles} (+{tally.settle_cycles_without_faults} without faults); "
        f"{tally.seconds} s"
    )
    if tally.details.get("open_at_end"):
        print(f"still open: {tally.details['open_at_end']}")
    print("OK: every approved invoice and payment exactly once" if tally.ok else "FAILED")
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
