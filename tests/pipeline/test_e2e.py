"""The main flow end to end over real servers: OpenSSH sshd, the Visma simulator over HTTP, and the
ledger on SQLite and PostgreSQL. Cycles run in process (``service.run_once``, as ``run`` does);
``failures``, ``reconcile``, ``replay`` and ``preview`` run as a user runs them (the console script).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from ml_connector import service
from ml_connector.demo.generate import MISSING_DEPARTMENT
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from ml_connector.pipeline.intake import IntakeStats, intake
from ml_connector.pipeline.posting import PostingStats, post_pending
from ml_connector.pipeline.refresh import refresh
from tests.pipeline.conftest import Connection, Dataset

PERIOD = "202503"
N_INVOICES = 40


def _cycle(app: service.App, name: str) -> CycleResult:
    [result] = asyncio.run(service.run_once(app, name))
    assert result.status == "ok", result.errors
    return result


def _json_out(proc: Any) -> Any:
    assert proc.stdout.strip(), f"no output; stderr:\n{proc.stderr}"
    return json.loads(proc.stdout)


def _snapshot(app: service.App, name: str) -> tuple[Any, ...]:
    """Everything a write would change: documents, failures, files, runs, audit length."""
    docs = [r.as_dict() for r in app.ledger.all_documents(name)]
    fails = [r.as_dict() for r in app.ledger.open_failures(name)]
    files = [
        r.as_dict()
        for r in app.ledger.files_with_status(name, ["downloaded", "processed", "partial", "rejected"])
    ]
    runs = [dict(r) for r in app.ledger.last_runs(name, limit=1000)]
    with app.ledger.tx() as conn:
        from ml_connector.ledger.schema import audit

        n_audit = conn.execute(audit.select()).all()
    return (docs, fails, files, runs, len(n_audit))


async def _post_with_stale_cache(app: service.App, c: Connection) -> PostingStats:
    rt = app.runtime(c.name)
    async with rt.visma() as visma:
        md = await refresh(visma.masterdata, rt.ledger, rt.name, rt.config.visma.company_id)
        async with rt.stampli() as source:
            await intake(rt, source, IntakeStats())
        c.sim.close_period(PERIOD)
        stats = PostingStats()
        await post_pending(rt, visma, md, stats)
    return stats


def test_main_flow_end_to_end(connection: Connection) -> None:
    c = connection
    ds = Dataset.make(N_INVOICES, missing=3)
    ids = ds.invoice_ids
    later = ids[36:40]  # held back: approved, paid by nobody, complete coding
    first = ids[:36]
    missing = [i for i in ds.missing_ids if i in first]
    unapproved = [ids[20], ids[25]]
    assert len(missing) >= 2 and not set(later) & set(ds.missing_ids) and not set(unapproved) & ds.paid_ids
    for i in unapproved:
        ds.set_unapproved(i)
    for k in range(3):
        c.put_invoices(
            f"stampli_invoices_C100234_20250331T071500Z_{k + 1:04d}.csv",
            ds.invoices_text(first[k * 12 : (k + 1) * 12]),
        )
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    app = c.open_app()

    # ---- cycle 1: everything approved posts once; missing cost centers park; unapproved skip
    one = _cycle(app, c.name)
    assert one.intake.files_new == 4
    assert one.intake.skipped == len(unapproved)
    assert one.posting.parked == len(missing)
    approved_first = [i for i in first if ds.approved(i)]
    assert one.posting.posted == len(approved_first) - len(missing) + len(ds.payment_rows)
    for i in unapproved:
        doc = app.ledger.document(c.name, f"INV:{i}") or next(
            d for d in app.ledger.all_documents(c.name) if d.source.get("stampliInvoiceId") == i
        )
        assert doc.status == DocStatus.SKIPPED
        trail = app.ledger.audit_trail("document", doc.doc_key)
        assert "approv" in (trail[0].reason or "").lower(), trail[0].reason

    failures = _json_out(c.cli("failures", "--json"))
    assert sorted(f["doc_key"].split(":")[-1] for f in failures) == sorted(missing), failures
    padded = MISSING_DEPARTMENT.rjust(4, "0")
    for f in failures:
        assert f["category"] == "visma_master_data", f
        assert padded in f["reason"], f["reason"]  # names the missing value
        assert f["who_can_fix"], f
        assert {"kind": "segment_value", "key": f"1:{padded}"} in [
            {"kind": m["kind"], "key": m["key"]} for m in f["missing"]
        ], f["missing"]
        assert f["source"], "the failure keeps the source record"

    # ---- a Visma administrator adds the cost center: the parked invoices post by themselves
    c.sim.add_segment_value(1, padded, "Prosjektkontor")
    two = _cycle(app, c.name)
    assert two.posting.auto_replayed == len(missing)
    assert two.posting.posted == len(missing)
    assert app.ledger.open_failures(c.name) == []
    expected = ds.expected(first)
    c.assert_exactly_once(expected)

    recon = c.cli("reconcile", "--period", "2025-03", "--format", "json")
    assert recon.returncode == 0, recon.stderr
    report = _json_out(recon)
    assert report["totals"]["matched"] == len(expected), [
        d for d in report["documents"] if d["outcome"] != "matched"
    ]
    assert sum(report["totals"].values()) == len(expected), report["totals"]

    # ---- nothing new: nothing posted, no journal calls at all
    c.sim.reset_stats()
    three = _cycle(app, c.name)
    assert (three.intake.files_new, three.intake.documents_new, three.posting.posted) == (0, 0, 0)
    assert c.journal_calls() == {}

    # ---- the same file exported again (new name, and the same name touched): skipped
    c.put_invoices("stampli_invoices_C100234_20250401T071500Z_0001.csv", ds.invoices_text(first[:12]))
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0002.csv", ds.invoices_text(first[12:24]))
    four = _cycle(app, c.name)
    assert four.intake.documents_new == 0 and four.posting.posted == 0
    assert four.intake.files_skipped >= 2
    assert c.journal_calls() == {}

    # ---- a changed re-export of a posted invoice: a conflict failure, never an overwrite
    victim = first[3]
    before = app.ledger.document(c.name, f"INV:{victim}") or next(
        d for d in app.ledger.all_documents(c.name) if d.reference == f"ST-{victim}"
    )
    assert before.status == DocStatus.POSTED
    for row in ds.invoice_rows[victim]:
        row["dueDate"] = "2025-05-30"
        row["description"] += " (korrigert)"
    c.put_invoices("stampli_invoices_C100234_20250402T071500Z_0001.csv", ds.invoices_text([victim]))
    five = _cycle(app, c.name)
    assert five.intake.conflicts == 1 and five.posting.posted == 0
    after = app.ledger.document_by_id(int(before.id))
    assert (after.status, after.batch_number, after.content_hash) == (
        before.status,
        before.batch_number,
        before.content_hash,
    )
    [conflict] = [f for f in service.failures(app, c.name) if f["code"] == "conflict"]
    assert conflict["doc_key"] == before.doc_key
    assert "never overwrites" in conflict["reason"] and str(before.batch_number) in conflict["reason"]
    assert "korrigert" in json.dumps(conflict["source"], ensure_ascii=False)
    assert c.journal_calls() == {}
    c.assert_exactly_once(expected)

    # ---- a voided payment gets a reversing voucher
    c.put_payments("stampli_payments_C100234_20250401T053000Z_0001.csv", ds.voids_text())
    six = _cycle(app, c.name)
    assert six.posting.posted == len(ds.void_rows) == 1
    pid = ds.void_rows[0]["stampliPaymentId"]
    found = c.batches_by_reference()
    [pay], [rev] = found[f"SP-{pid}"], found[f"SPV-{pid}"]

    def sides(batch: dict[str, Any]) -> set[tuple[str, Decimal, Decimal]]:
        return {
            (
                ln["accountNumber"],
                Decimal(str(ln["debitAmountInCurrency"])),
                Decimal(str(ln["creditAmountInCurrency"])),
            )
            for ln in batch["journalTransactionLines"]
        }

    assert sides(rev) == {(acct, cr, dr) for acct, dr, cr in sides(pay)}, (sides(pay), sides(rev))
    expected = ds.expected(first, voids=True)
    c.assert_exactly_once(expected)

    # ---- preview FILE writes nothing and calls no journal endpoint
    local = c.workdir / "stampli_invoices_C100234_preview.csv"
    local.write_text(ds.invoices_text(later[:2]), encoding="utf-8", newline="")
    snap = _snapshot(app, c.name)
    c.sim.reset_stats()
    shown = c.cli("preview", str(local), "--json")
    assert shown.returncode == 0, shown.stderr
    preview = _json_out(shown)
    assert [d["reference"] for d in preview["documents"]] == [f"ST-{i}" for i in later[:2]]
    for d in preview["documents"]:
        assert d["problems"] == [], d
        refs = {ln["referenceNumber"]["value"] for ln in d["payload"]["journalTransactionLines"]}
        assert refs == {d["reference"]}
    assert c.journal_calls() == {}
    assert _snapshot(app, c.name) == snap

    # ---- manual replay of a Visma rejection: a Visma user closes the period right after our
    # master-data refresh, so Visma refuses the create; that needs a person (no auto-replay)
    c.put_invoices("stampli_invoices_C100234_20250403T071500Z_0001.csv", ds.invoices_text(later[:1]))
    stale = asyncio.run(_post_with_stale_cache(app, c))
    assert stale.parked == 1 and stale.posted == 0
    [rejected] = [f for f in service.failures(app, c.name) if f["code"].startswith("visma_rejected")]
    assert rejected["doc_key"].endswith(later[0]) and "closed" in (rejected["visma_answer"] or "")
    assert "Visma refused" in rejected["reason"] and rejected["source"]
    # Visma's message names the period: the classifier says the Visma administrator fixes it
    assert rejected["category"] == "visma_master_data" and rejected["who_can_fix"].startswith("Visma")
    c.sim.open_period(PERIOD)
    eight = _cycle(app, c.name)
    assert eight.posting.auto_replayed == 0 and eight.posting.posted == 0  # waits for a person
    replayed = c.cli("replay", str(rejected["id"]), "--json")
    assert replayed.returncode == 0, replayed.stderr
    out = _json_out(replayed)
    assert out["requeued"] == [rejected["doc_key"]] and out["refused"] == []
    assert sum(cy["posted"] for cy in out["cycles"]) == 1
    trail = app.ledger.audit_trail("document", rejected["doc_key"])
    actions = [t.action for t in trail]
    assert actions[-4:] == ["replayed", "claimed", "created", "released"], actions
    assert next(t for t in trail if t.action == "replayed").actor.startswith("cli:")

    # ---- replay --all: the period is closed (we know it), two invoices park; reopened; replayed
    c.sim.close_period(PERIOD)
    c.put_invoices("stampli_invoices_C100234_20250404T071500Z_0001.csv", ds.invoices_text(later[1:3]))
    nine = _cycle(app, c.name)
    assert nine.posting.parked == 2 and nine.posting.posted == 0
    parked = [f for f in service.failures(app, c.name) if f["code"] == "period_closed"]
    assert len(parked) == 2
    assert all(PERIOD in f["reason"] and "open it in Visma" in f["reason"] for f in parked)
    c.sim.open_period(PERIOD)
    everything = c.cli("replay", "--all", "--json")
    out = _json_out(everything)
    assert sorted(out["requeued"]) == sorted(f["doc_key"] for f in parked)
    assert sum(cy["posted"] for cy in out["cycles"]) == 2
    # the conflict is not replayable: it is settled by hand in Visma, and the command says so
    assert len(out["refused"]) == 1 and out["refused"][0].startswith(f"{conflict['id']}:")
    assert everything.returncode == 1

    final = ds.expected([*first, *later[:3]], voids=True)
    c.assert_exactly_once(final)
    [rows] = asyncio.run(service.reconcile_period(app, "2025-03", c.name)).values()
    assert {r.outcome for r in rows} == {"matched"} and len(rows) == len(final)
    counts = app.ledger.status_counts(c.name)
    assert counts == {"posted": len(final), "skipped": len(unapproved)}, counts
