"""The README's main-job command: `ml-connector demo --json` end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_json_posts_everything_once_and_replays_the_parked() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    proc = subprocess.run(
        [sys.executable, "-m", "ml_connector", "demo", "--invoices", "40", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    s = json.loads(proc.stdout)
    assert s["invoices"] == 40
    assert s["payments"] > 0
    assert s["parked_first_cycle"] == 5  # the generated invoices on cost center 0450
    assert s["replayed"] == 5
    assert s["parked_now"] == 0
    assert s["duplicates_in_visma"] == 0
    # every invoice, payment and the one void reversal, each on exactly one Visma batch
    assert s["posted"] == s["invoices"] + s["payments"] + 1
    assert s["visma_batches_with_our_reference"] == s["posted"]
    assert s["reconciliation"] == {"matched": s["posted"], "missing": 0, "differences": 0, "not_posted": 0}
    assert s["errors"] == []
    # every invoice's image came with the export and is attached to its batch in Visma
    assert s["attachments"] == s["invoices"]
    assert s["images"] == {
        "with_image": 40,
        "attached": 40,
        "missing": 0,
        "batches_with_attachment_in_visma": 40,
    }
    assert s["vendors_exported"] > 0  # Visma's suppliers went to Stampli's inbound folder
    # ...and Visma's coding lists, one file each, to Stampli's inbound/masterdata folder
    lists = s["coding_lists"]
    assert set(lists) == {"accounts", "cost_centers", "vat_codes", "credit_terms"}
    assert all(v["values"] > 0 and v["file"].startswith("/inbound/masterdata/") for v in lists.values())
    assert s["coding_lists_delta"]["cost_centers"]["keys"] == ["0450"]  # the cost center created mid-demo
