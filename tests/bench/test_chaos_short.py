"""The chaos run, short: 2 rounds of 300 invoices under every fault, a SIGKILL in each round; in
one variant the ledger is deleted between the rounds (a lost database).

The long run is ``bench/chaos`` (20 rounds of 5,000 invoices); this is the same code
(bench/chaosrun.py) with small numbers, so the suite keeps it working.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.chaosrun import chaos

pytestmark = [pytest.mark.openssh]


@pytest.mark.parametrize("ledger", ["kept", "lost"])
def test_chaos_short_every_document_exactly_once(tmp_path: Path, ledger: str) -> None:
    # A run normally takes ~20 s; a hang (a budget waiting out an hour-long window, say) must fail
    # the suite in minutes, not stall CI. "lost": the ledger is deleted between the two rounds.
    tally = chaos(
        rounds=2,
        invoices=300,
        seed=11,
        workdir=tmp_path,
        sftp_every=3.0,
        log=False,
        run_timeout=240.0,
        lose_ledger_after=1 if ledger == "lost" else None,
    )
    summary = (
        f"rounds {tally.rounds} kills {tally.kills} expected {tally.expected} posted {tally.posted} "
        f"duplicates {tally.duplicates} missing {tally.missing} unexpected {tally.unexpected} "
        f"sim {tally.sim} details {tally.details}"
    )
    assert tally.rounds == 2, summary
    assert tally.expected > 2 * 300 * 0.9, summary  # invoices and payments of both rounds
    assert tally.duplicates == 0, summary
    assert tally.missing == 0, summary
    assert tally.unexpected == 0, summary  # nothing not approved reached Visma
    assert tally.posted == tally.expected, summary
    assert tally.sim["injected_5xx"] > 0 and tally.sim["dropped_after_commit"] > 0, summary
    assert not tally.details["open_at_end"], summary
    if ledger == "lost":
        # the fresh ledger read round 1's files again and found their documents in Visma
        assert tally.ledger_lost_after_round == 1, summary
        assert tally.adopted > 300 * 0.5, summary
    else:
        assert tally.adopted == 0, summary


def test_chaos_short_in_supplier_ledger_mode_every_document_exactly_once(tmp_path: Path) -> None:
    """The same faults and kills with ``posting.target = "supplier_invoice"``: invoices are supplier
    invoices (counted by our reference in their description), payments supplier payments (counted by
    our reference in paymentRef)."""
    tally = chaos(
        rounds=2,
        invoices=150,
        seed=12,
        workdir=tmp_path,
        sftp_every=3.0,
        log=False,
        run_timeout=240.0,
        target="supplier_invoice",
    )
    summary = (
        f"rounds {tally.rounds} kills {tally.kills} expected {tally.expected} posted {tally.posted} "
        f"duplicates {tally.duplicates} missing {tally.missing} unexpected {tally.unexpected} "
        f"sim {tally.sim} details {tally.details}"
    )
    assert tally.rounds == 2, summary
    assert tally.expected > 2 * 150 * 0.9, summary
    assert tally.duplicates == 0 and tally.missing == 0 and tally.unexpected == 0, summary
    assert tally.posted == tally.expected, summary
    assert tally.sim["injected_5xx"] > 0 and tally.sim["dropped_after_commit"] > 0, summary
    assert not tally.details["open_at_end"], summary
