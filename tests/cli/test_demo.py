"""The README's main-job command: `ml-connector demo --json` end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _demo_json(*args: str) -> dict[str, Any]:
    """``ml-connector demo --invoices 40 --json ARGS`` as a user runs it; its summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    proc = subprocess.run(
        [sys.executable, "-m", "ml_connector", "demo", "--invoices", "40", "--json", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def test_demo_json_posts_everything_once_and_replays_the_parked() -> None:
    s = _demo_json()
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


def test_demo_in_supplier_ledger_mode_posts_supplier_invoices_once_and_releases_them() -> None:
    s = _demo_json("--target", "supplier_invoice")
    assert s["target"] == "supplier_invoice"
    # the 5 invoices on cost center 0450 and the 2 payments that pay them (waiting for their invoices
    # in Visma) are parked; the second cycle replays all 7 by themselves, the payments right after
    # their invoices are released
    assert s["parked_first_cycle"] == 7 and s["replayed"] == 7 and s["parked_now"] == 0
    assert s["duplicates_in_visma"] == 0
    # every invoice once in the supplier ledger, released
    assert s["supplier_invoices_with_our_reference"] == s["invoices"] == s["released"]
    # every invoice image attached to its supplier invoice: the ledger's record and Visma's copy
    assert s["attachments"] == s["invoices"] == s["supplier_invoices_with_attachment"]
    # payments are Visma supplier payments (the void a VoidPayment): nothing is a journal transaction
    assert s["visma_batches_with_our_reference"] == 0
    assert s["supplier_payments"] == s["payments"]
    # each paid invoice Closed at balance 0, the part-paid one Open with its rest, the voided
    # payment's invoice open again; every document's balance is what our payments leave
    assert s["supplier_documents"] == {
        "paid_closed": s["payments"] - 2,
        "partly_paid_open": 1,
        "unpaid_open": s["invoices"] - s["payments"] + 1,
        "unexpected": 0,
        "payments_voided": 1,
    }
    assert s["posted"] == s["invoices"] + s["payments"] + 1
    assert s["reconciliation"] == {"matched": s["posted"], "missing": 0, "differences": 0, "not_posted": 0}
    assert s["errors"] == []
