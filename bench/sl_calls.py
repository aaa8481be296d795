"""Visma calls per posted document with the supplier-ledger target (issue 18): a steady cycle with
releasing off (creates and the per-supplier lookups before a first create), one with each invoice's
image attached and released (create, attachment, release), and a fresh-ledger cycle over the same
SFTP folder and simulator (everything already in Visma: found, nothing created). Invoices only:
this section measures the supplier-invoice target; payments are measured by ``calls``."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from tests.support.sshd import OpenSshServer

from bench.lib import API, Connection, SimProcess, api_calls, make_batch
from ml_connector import service
from ml_connector.pipeline.cycle import run_cycle

CREATE = "POST /v1/supplierInvoice"
TARGET = "supplier_invoice"
PDF = b"%PDF-1.4\n% bench invoice image\n%%EOF\n"


def _put(c: Connection, n: int, tag: int, *, images: bool) -> int:
    """``n`` invoices (no payments) and, with ``images``, each one's image beside the export."""
    batch = make_batch(n, tag)
    for name, text in batch.invoice_files:
        c.put("invoices", name, text)
        if images:
            for invoice_id in {r["stampliInvoiceId"] for r in csv.DictReader(io.StringIO(text, newline=""))}:
                c.put("invoices/images", f"{invoice_id}.pdf", PDF)
    return n


def _by_path(stats: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in stats["requests"].items() if k.split(" ", 1)[1].startswith(API)}


def _count(stats: dict[str, Any], part: str) -> int:
    """Supplier-invoice requests whose route contains ``part`` (``/attachment``, ``/action/release``)."""
    return sum(n for key, n in stats["requests"].items() if "/v1/supplierInvoice" in key and part in key)


def _cycle(c: Connection, sim: SimProcess) -> tuple[Any, dict[str, Any]]:
    app = service.open_app(c.config_path, environ=c.environ)
    try:
        sim.reset_stats()
        result = asyncio.run(run_cycle(app.runtime(c.name)))
        return result, sim.stats()
    finally:
        app.close()


def _figures(result: Any, stats: dict[str, Any]) -> dict[str, Any]:
    posted = max(result.posting.posted, 1)
    calls = api_calls(stats)
    return {
        "posted": result.posting.posted,
        "status": result.status,
        "api_calls": calls,
        "calls_per_posted_document": round(calls / posted, 4),
        "creates_per_posted_document": round(stats["requests"].get(CREATE, 0) / posted, 4),
        "attachments_per_posted_document": round(_count(stats, "/attachment") / posted, 4),
        "releases_per_posted_document": round(_count(stats, "/action/release") / posted, 4),
        # what is neither create, attachment nor release: master data and the per-supplier lookups
        "other_calls": calls
        - stats["requests"].get(CREATE, 0)
        - _count(stats, "/attachment")
        - _count(stats, "/action/release"),
        "attached": result.posting.attached,
        "by_path": _by_path(stats),
    }


def measure(work: Path, ssh: OpenSshServer, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, release, images in (("release_off", False, False), ("release_images", True, True)):
        sim = SimProcess(work)
        try:
            root = f"/sl_{label}"
            c = Connection(work / f"sl-{label}", ssh, sim, root, release=release, target=TARGET)
            _put(c, 20, 930, images=images)
            _cycle(c, sim)  # warm-up: master data cached, one cycle done
            _put(c, n, 931, images=images)
            result, stats = _cycle(c, sim)
            out[label] = _figures(result, stats)
            if label == "release_off":
                fresh = Connection(
                    work / "sl-fresh", ssh, sim, root, release=False, target="supplier_invoice"
                )
                fr, fs = _cycle(fresh, sim)
                documents = fr.intake.documents_new
                calls = api_calls(fs)
                out["fresh_ledger"] = {
                    "documents_already_posted": documents,
                    "found_in_visma": fr.posting.already_in_visma,
                    "creates": fs["requests"].get(CREATE, 0),
                    "api_calls": calls,
                    "calls_per_document": round(calls / max(documents, 1), 4),
                    "status": fr.status,
                    "by_path": {
                        k: v for k, v in fs["requests"].items() if k.split(" ", 1)[1].startswith(API)
                    },
                }
        finally:
            sim.stop()
    out["method"] = (
        f"posting.target = supplier_invoice; a warm-up cycle (20 invoices), then one cycle over {n} new "
        "invoices (no payments); Visma API requests counted by the simulator (token requests excluded) "
        "/ documents posted. release_off: no images, releasing off (the create and the per-supplier "
        "lookups before a first create); release_images: each invoice's image beside the export, "
        "attached, then released. Fresh ledger: after release_off, an empty ledger over the same SFTP "
        "folder and simulator (everything already in Visma)."
    )
    return out
