"""``ml-connector demo``: the main job on the embedded default, from a fresh clone, no credentials.

It starts the embedded SFTP server and the Visma simulator on loopback, writes a generated Stampli
export (a few invoices carry a cost center Visma does not know), runs a cycle, creates the
missing cost center in the simulator, writes a payment void, runs again (the parked invoices post
by themselves), reconciles, checks the simulator for duplicates, and stops everything (or, with
``then``, first hands the running world to the caller: ``demo --serve`` keeps the dashboard on it).

The vault's master key is in ``master.key`` (mode 0600) in the work folder, so a kept folder is
usable afterwards: ``ml-connector dashboard -c FOLDER/ml-connector.toml``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2

from ml_connector import service
from ml_connector.demo.generate import Export, create_missing_cost_center, generate
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoucher
from ml_connector.domain.voucher_codec import decode_voucher, is_encoded
from ml_connector.ledger.states import DocStatus
from ml_connector.masterdata.export import MasterdataResult, export_masterdata
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.images import image_counts
from ml_connector.pipeline.reconcile import ReconRow, reconcile, totals
from ml_connector.pipeline.runtime import Runtime
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma.server import SimulatorOptions, SimulatorServer
from ml_connector.vault import FileBackend, FileKeySource, Vault, generate_key
from ml_connector.vendors.export import export_vendors

PERIOD = "2025-03"
# Optional: the embedded servers' credentials (random or built in when unset). The demo stores them
# in an encrypted vault in its work folder, under a master key in a 0600 file beside it.
SFTP_ENV = "ML_CONNECTOR_DEMO_SFTP_PASSWORD"
VISMA_ENV = "ML_CONNECTOR_DEMO_VISMA_SECRET"
VAULT_FILE = "demo.vault"
KEY_FILE = "master.key"


@dataclass
class DemoResult:
    summary: dict[str, Any]
    reconciliation: list[ReconRow]
    cycles: list[CycleResult]
    workdir: Path


def _config_text(sftp: EmbeddedSftpServer, sim: SimulatorServer, target: str = "journal") -> str:
    return f"""# Written by `ml-connector demo`: the embedded SFTP server and the Visma simulator on loopback.
[log]
level = "WARNING"

[vault]
path = "{VAULT_FILE}"
master_key_file = "{KEY_FILE}"

[connections.demo]
stampli_company_id = "C100234"
poll_interval = 300
profile = "canonical"

[connections.demo.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.username}"
password = "vault:demo_sftp_password"
host_key = "{sftp.host_public_key}"
invoices_folder = "/outbound/invoices"
payments_folder = "/outbound/payments"
min_file_age = 0

[connections.demo.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "vault:demo_visma_secret"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"

[connections.demo.mapping]
credit_account = "2460"
cost_center_field = "department"
cost_center_segment_id = 1
cost_center_length = 4
default_bank_account = "1920"

[connections.demo.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.demo.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.demo.mapping.tax_codes]
"1" = "1"
"11" = "11"
"86" = "86"

[connections.demo.mapping.bank_accounts]
"DNB-1503.12.34567" = "1920"
"DNB-EUR-1503.99.12345" = "1921"
"SEB-5000.00.58398" = "1922"

[connections.demo.posting]
target = "{target}"
release = true
closed_period_policy = "park"

[connections.demo.masterdata]
enabled = true
folder = "/inbound/masterdata"
"""


def _write(folder: Path, files: Sequence[tuple[str, str | bytes]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 600  # older than any file-age guard: Stampli finished writing long ago
    for name, content in files:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        os.utime(path, (old, old))


def _coding_summary(result: MasterdataResult) -> dict[str, dict[str, Any]]:
    """List name -> the file written to Stampli's inbound folder and the values (keys) in it."""
    return {
        lr.name: {"file": lr.remote_path, "values": lr.rows, "keys": lr.keys if lr.rows <= 5 else []}
        for lr in result.lists
    }


def _coding_errors(result: MasterdataResult) -> list[str]:
    errors = [f"coding lists: {result.error}"] if result.error else []
    return errors + [f"coding list {lr.name}: {lr.error}" for lr in result.lists if lr.error]


def _duplicates(journal: list[dict[str, Any]]) -> tuple[int, int]:
    """(references on more than one batch, batches carrying one of our references)."""
    refs: Counter[str] = Counter()
    for batch in journal:
        for ref in {ln.get("referenceNumber") for ln in batch.get("journalTransactionLines", [])}:
            if isinstance(ref, str) and ref.startswith(("ST-", "SP-", "SPV-")):
                refs[ref] += 1
    return sum(1 for n in refs.values() if n > 1), sum(refs.values())


def _supplier_documents(documents: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """(our references on more than one supplier document, supplier documents carrying our reference
    (it opens their description), those released, those with an attachment)."""
    refs: Counter[str] = Counter()
    released = attached = 0
    for doc in documents:
        ref = str(doc.get("description") or "").split(" ", 1)[0]
        if not ref.startswith("ST-"):
            continue
        refs[ref] += 1
        released += doc.get("status") in ("Open", "Closed")
        attached += bool(doc.get("attachments"))
    return sum(1 for n in refs.values() if n > 1), sum(refs.values()), released, attached


def supplier_balances(
    docs: list[StoredDocument], visma_docs: list[dict[str, Any]], visma_payments: list[dict[str, Any]]
) -> dict[str, int]:
    """Each of our supplier documents in Visma against what our released, not voided, supplier
    payments settle on it (paid + discount taken): balance 0 and ``Closed`` when fully settled,
    ``Open`` with the rest otherwise; anything else is ``unexpected``. And the payments Visma holds
    as ``Voided`` (by our VoidPayment)."""
    totals_: dict[str, Decimal] = {}
    settled: dict[str, Decimal] = {}
    voided = {d.doc_key.replace("PAYV:", "PAY:", 1) for d in docs if d.kind == "payment_void"}
    for d in docs:
        stored = decode_voucher(d.voucher) if d.voucher and is_encoded(d.voucher) else None
        if isinstance(stored, SupplierInvoiceVoucher) and d.batch_number:
            totals_[d.batch_number] = stored.total
        if isinstance(stored, SupplierPaymentVoucher) and d.status == DocStatus.POSTED:
            for a in stored.applications if d.doc_key not in voided else ():
                key = f"{a.document_type}/{a.document_number}"
                settled[key] = settled.get(key, Decimal(0)) + a.amount + a.cash_discount
    held = {f"{v.get('documentType')}/{v.get('referenceNumber')}": v for v in visma_docs}
    out = dict.fromkeys(("paid_closed", "partly_paid_open", "unpaid_open", "unexpected"), 0)
    for number, total in totals_.items():
        expected = total - settled.get(number, Decimal(0))
        doc = held.get(number, {})
        balance = Decimal(str(doc.get("balanceInCurrency", "NaN")))
        if balance != expected or doc.get("status") != ("Closed" if expected == 0 else "Open"):
            out["unexpected"] += 1
        elif expected == 0:
            out["paid_closed"] += 1
        else:
            out["unpaid_open" if expected == total else "partly_paid_open"] += 1
    out["payments_voided"] = sum(p["type"] == "Payment" and p["status"] == "Voided" for p in visma_payments)
    return out


async def books_outcome(
    rt: Runtime, api_url: str, counts: Mapping[str, int]
) -> tuple[list[ReconRow], dict[str, Any]]:
    """What the books show after a demo (both demos report it the same way): the ledger's counts,
    the simulator's batches with our references, and the reconciliation of the demo period."""
    async with rt.visma() as visma:
        recon = await reconcile(rt, visma, PERIOD)
    with httpx2.Client(base_url=api_url, timeout=30) as http:
        journal = http.get("/_sim/journal").json()
        supplier_docs = http.get("/_sim/supplier-ledger").json()["documents"]
        supplier_payments = http.get("/_sim/supplier-payments").json()["payments"]
    dup_refs, batches = _duplicates(journal)
    ledger_dups, ours, released, attached = _supplier_documents(supplier_docs)
    t = totals(recon)
    supplier_ledger = (
        {
            "supplier_invoices_with_our_reference": ours,
            "released": released,
            "supplier_invoices_with_attachment": attached,
            "supplier_payments": sum(p["type"] == "Payment" for p in supplier_payments),
            "supplier_documents": supplier_balances(
                rt.ledger.all_documents(rt.name), supplier_docs, supplier_payments
            ),
        }
        if rt.config.posting.target == "supplier_invoice"
        else {}
    )
    images = image_counts(rt.ledger.all_documents(rt.name))
    return recon, {
        "target": rt.config.posting.target,
        "posted": counts.get("posted", 0),
        "parked_now": counts.get("parked", 0),
        "skipped": counts.get("skipped", 0),
        "visma_batches_with_our_reference": batches,
        **supplier_ledger,
        "duplicates_in_visma": dup_refs + ledger_dups,
        # invoice images: attached in Visma (the ledger's record), and the simulator's own count of
        # our batches that carry an attachment (journal mode; the supplier ledger keeps its own)
        "attachments": images["attached"],
        "images": {**images, "batches_with_attachment_in_visma": _with_attachment(journal)},
        "reconciliation": {
            "matched": t["matched"],
            "missing": t["missing_in_visma"],
            "differences": t["amount_difference"] + t["changed_in_visma"] + t["duplicate_in_visma"],
            "not_posted": t["not_posted"],
        },
    }


def _with_attachment(journal: list[dict[str, Any]]) -> int:
    """Batches with one of our references that carry at least one attachment."""
    return sum(
        1
        for batch in journal
        if batch.get("attachments")
        and any(
            str(ln.get("referenceNumber") or "").startswith(("ST-", "SP-", "SPV-"))
            for ln in batch.get("journalTransactionLines", [])
        )
    )


def stage_export(work: Path, n_invoices: int) -> tuple[Export, Path]:
    """A generated Stampli export in ``work/stampli``, laid out as Stampli's SFTP folders; each
    invoice's image (PDF) in ``images/`` beside the invoice exports."""
    export = generate(n_invoices, images=True, part_paid=True)
    stampli_root = work / "stampli"
    _write(stampli_root / "outbound" / "invoices", export.invoices_csv)
    _write(stampli_root / "outbound" / "invoices" / "images", export.images)
    _write(stampli_root / "outbound" / "payments", export.payments_csv)
    (stampli_root / "inbound" / "vendors").mkdir(parents=True, exist_ok=True)
    (stampli_root / "inbound" / "masterdata").mkdir(parents=True, exist_ok=True)
    return export, stampli_root


def start_servers(stampli_root: Path) -> tuple[EmbeddedSftpServer, SimulatorServer]:
    """The embedded SFTP server over ``stampli_root`` and the Visma simulator, on loopback.
    Known credentials may come from ML_CONNECTOR_DEMO_* (the leak test uses them)."""
    sftp = EmbeddedSftpServer(stampli_root, password=os.environ.get(SFTP_ENV) or None).start_in_thread()
    sim_options = SimulatorOptions(seed="demo")
    if os.environ.get(VISMA_ENV):
        sim_options.client_secret = os.environ[VISMA_ENV]
    return sftp, SimulatorServer(sim_options).start_in_thread()


async def run_demo(
    n_invoices: int = 200,
    *,
    keep: bool = False,
    workdir: Path | None = None,
    then: Callable[[DemoResult, service.App], Awaitable[None]] | None = None,
    target: str = "journal",
) -> DemoResult:
    """``target``: ``journal`` or ``supplier_invoice`` (the connection's ``posting.target``)."""
    work = workdir or Path(tempfile.mkdtemp(prefix="ml-connector-demo-"))
    export, stampli_root = stage_export(work, n_invoices)
    sftp, sim = start_servers(stampli_root)
    app: service.App | None = None
    try:
        env = dict(os.environ)
        env.pop(SFTP_ENV, None)
        env.pop(VISMA_ENV, None)
        key_source = FileKeySource(work / KEY_FILE)
        key_source.write((generate_key(),))  # mode 0600
        vault = Vault(FileBackend(work / VAULT_FILE), key_source)
        vault.set("demo_sftp_password", sftp.password)
        vault.set("demo_visma_secret", sim.client_secret)
        config_path = work / "ml-connector.toml"
        config_path.write_text(_config_text(sftp, sim, target), encoding="utf-8")
        app = service.open_app(config_path, environ=env, settle_after=timedelta(0))
        rt = app.runtime("demo", actor="demo")
        vendors = await export_vendors(rt, app.ledger, mode="full")  # Stampli gets Visma's suppliers first
        coding = await export_masterdata(
            rt, app.ledger, modes=dict.fromkeys(rt.config.masterdata.lists, "full")
        )
        first = await run_cycle(rt)
        # A Visma administrator creates the missing cost center; Stampli exports a payment void.
        create_missing_cost_center(sim.api_url)
        # ...and Stampli's cost-center list gets it at once (a delta file).
        coding_delta = await export_masterdata(rt, app.ledger, modes={"cost_centers": "delta"})
        _write(stampli_root / "outbound" / "payments", export.voids_csv)
        second = await run_cycle(rt)
        recon, books = await books_outcome(rt, sim.api_url, app.ledger.status_counts("demo"))
        summary = {
            "invoices": len(export.invoices),
            "payments": export.payments,
            "payment_voids": len(export.voids_csv and export.voids_csv[0][1].splitlines()[1:]),
            "posted_first_cycle": first.posting.posted,
            "parked_first_cycle": first.posting.parked,
            "replayed": second.posting.auto_replayed,
            **books,
            "seconds": {"first_cycle": round(first.seconds, 2), "second_cycle": round(second.seconds, 2)},
            "vendors_exported": vendors.vendors_exported if vendors.status == "ok" else 0,
            "coding_lists": _coding_summary(coding),
            "coding_lists_delta": _coding_summary(coding_delta),
            "errors": first.errors
            + second.errors
            + ([f"vendors: {vendors.error}"] if vendors.error else [])
            + _coding_errors(coding)
            + _coding_errors(coding_delta),
        }
        result = DemoResult(summary, recon, [first, second], work)
        if then is not None:
            await then(result, app)
        return result
    finally:
        if app is not None:
            app.close()
        sim.stop()
        sftp.stop()
        if not keep and workdir is None:
            shutil.rmtree(work, ignore_errors=True)
