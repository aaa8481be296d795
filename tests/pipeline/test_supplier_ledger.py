"""Supplier-ledger mode over real servers: OpenSSH sshd, the Visma simulator over HTTP, a SQLite
ledger. Invoices become released supplier invoices whose totals are Stampli's to the øre, credit notes
DebitAdj read back by their type; another channel's document is parked, never posted; an unknown
create (the answer dropped after the commit) settles by supplier; SIGKILL at each boundary, then a
restart: every invoice in Visma exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal

import pytest

from ml_connector import service
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from tests.pipeline.conftest import ConnectionFactory, Dataset, cycles_until_settled
from tests.support.visma_sim import VismaSim, post_json

CSV = "stampli_invoices_C100234_20250331T071500Z_{:04d}.csv"


def expected(ds: Dataset, ids: list[str]) -> dict[str, Decimal]:
    """Our reference -> Stampli's signed total (a credit note's is negative)."""
    return {f"ST-{i}": Decimal(ds.invoice_rows[i][0]["totalAmount"]) for i in ids}


def _cycle(app: service.App, name: str) -> CycleResult:
    [result] = asyncio.run(service.run_once(app, name))
    assert result.status == "ok", result.errors
    return result


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_invoices_and_credit_notes_become_released_supplier_invoices_once(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(20, missing=0)  # the 17th (index 16) is a credit note
    ids, later = ds.invoice_ids[:18], ds.invoice_ids[18:]
    assert any(ds.invoice_rows[i][0]["documentType"] == "CREDIT_NOTE" for i in ids)
    c.put_invoices(CSV.format(1), ds.invoices_text(ids))
    app = c.open_app()
    first = _cycle(app, c.name)
    assert first.posting.posted == len(ids) and first.posting.duplicates_in_visma == 0
    c.assert_exactly_once_in_supplier_ledger(expected(ds, ids))
    assert c.sim.journal() == []  # no journal transaction for an invoice in this mode
    again = _cycle(app, c.name)
    assert again.posting.posted == 0
    c.assert_exactly_once_in_supplier_ledger(expected(ds, ids))
    # the note carries the Stampli link; the lines carry the mapped VAT codes
    doc = c.supplier_documents()[f"ST-{ids[0]}"][0]
    assert "Stampli: " in str(doc.get("note")) or doc.get("note") is None
    assert {ln["vatCode"]["id"] for ln in doc["invoiceLines"]} <= {"1", "11", "86"}

    # preview shows the supplier invoice the target would send, and sends nothing
    local = c.workdir / "stampli_invoices_C100234_preview.csv"
    local.write_text(ds.invoices_text(later), encoding="utf-8", newline="")
    before = len(c.sim.supplier_ledger()["documents"])
    shown = c.cli("preview", str(local), "--json")
    assert shown.returncode == 0, shown.stderr
    shown_docs = json.loads(shown.stdout)["documents"]
    assert [d["reference"] for d in shown_docs] == [f"ST-{i}" for i in later]
    for d in shown_docs:
        assert d["payload"]["documentType"] == {"value": "Invoice"}
        assert d["payload"]["description"]["value"].startswith(d["reference"] + " ")
        assert d["payload"]["invoiceLines"] and d["problems"] == [], d
    assert len(c.sim.supplier_ledger()["documents"]) == before


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_another_channels_invoice_is_parked_naming_it_and_never_posted(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(2, missing=0)
    [dup, other] = ds.invoice_ids
    row = ds.invoice_rows[dup][0]
    api = c.sim.api_client()
    try:  # the same invoice, arrived as an e-invoice through AutoInvoice before the cycle
        answer = post_json(
            api,
            "/v1/supplierInvoice",
            {
                "documentType": {"value": "Invoice"},
                "supplierNumber": {"value": row["vendorId"]},
                "supplierReference": {"value": row["invoiceNumber"]},
                "date": {"value": row["invoiceDate"] + "T00:00:00"},
                "dueDate": {"value": row["dueDate"] + "T00:00:00"},
                "description": {"value": "EHF via AutoInvoice"},
                "invoiceLines": [
                    {
                        "operation": "Insert",
                        "accountNumber": {"value": "6800"},
                        "subaccount": [
                            {"segmentId": 1, "segmentValue": "0100"},
                            {"segmentId": 2, "segmentValue": "00"},
                        ],
                        "quantity": {"value": Decimal(1)},
                        "unitCostInCurrency": {"value": Decimal(row["totalAmount"])},
                    }
                ],
            },
        )
        assert answer.status_code == 201, answer.text
        theirs = answer.headers["location"].rsplit("/", 1)[1]
    finally:
        api.close()
    c.put_invoices(CSV.format(1), ds.invoices_text([dup, other]))
    app = c.open_app()
    result = _cycle(app, c.name)
    assert result.posting.duplicates_in_visma == 1 and result.posting.posted == 1
    [failure] = app.ledger.open_failures(c.name)
    assert failure.code == "duplicate_in_visma" and f"Invoice/{theirs}" in str(failure.reason)
    documents = c.sim.supplier_ledger()["documents"]
    assert len(documents) == 2  # the e-invoice and the other invoice: the duplicate was never sent
    assert all(not d.get("warnings") for d in documents)  # Visma never saw a repeated reference
    _cycle(app, c.name)
    assert len(c.sim.supplier_ledger()["documents"]) == 2


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_a_dropped_create_settles_by_supplier_and_posts_once(
    connection_factory: ConnectionFactory, visma_sim_factory: object
) -> None:
    sim: VismaSim = visma_sim_factory(seed="demo", faults="drop_next=2")  # type: ignore[operator]
    c = connection_factory(sim, target="supplier_invoice")
    ds = Dataset.make(6, missing=0)
    c.put_invoices(CSV.format(1), ds.invoices_text(ds.invoice_ids))
    app = c.open_app()
    results = asyncio.run(cycles_until_settled(app, c.name))
    assert sum(r.posting.unknown for r in results) == 2
    assert sum(r.posting.settled_found for r in results) == 2
    c.assert_exactly_once_in_supplier_ledger(expected(ds, ds.invoice_ids))
    assert set(app.ledger.status_counts(c.name)) == {DocStatus.POSTED}


CRASH_N = {"after_claim": 4, "after_send": 4, "after_record": 4, "after_release": 4}


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("boundary", sorted(CRASH_N))
def test_sigkill_at_each_boundary_then_restart_posts_each_invoice_once(
    connection_factory: ConnectionFactory, boundary: str
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(10, missing=0)
    c.put_invoices(CSV.format(1), ds.invoices_text(ds.invoice_ids))
    crashed = c.cli("run", "--json", crash_at=f"{boundary}:{CRASH_N[boundary]}")
    assert crashed.returncode == -signal.SIGKILL, f"rc={crashed.returncode}\n{crashed.stderr}"
    in_visma = c.supplier_documents()
    assert len(in_visma) < len(ds.invoice_ids)  # killed mid-batch
    if boundary != "after_claim":  # killed after a create reached Visma (claims run concurrently)
        assert in_visma
    assert all(len(d) == 1 for d in in_visma.values())
    done = c.cli("run", "--json")
    assert done.returncode == 0, done.stderr
    [summary] = json.loads(done.stdout)
    assert summary["status"] == "ok", summary
    c.assert_exactly_once_in_supplier_ledger(expected(ds, ds.invoice_ids))
    if boundary == "after_send":
        assert int(summary["settled_found"]) >= 1, summary
