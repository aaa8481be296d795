"""``payments.source = "visma"`` over real servers (OpenSSH sshd, the Visma simulator over HTTP, a
SQLite ledger): Visma pays the suppliers, so Stampli's payment files are read and every payment (and
void) is recorded as skipped with the reason, never posted, on either target; in supplier-ledger mode
each invoice is created approved for payment (``paySelected``). A payment read before the switch is
skipped by the next cycle, not posted."""

from __future__ import annotations

import asyncio
import json

import pytest

from ml_connector import service
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from ml_connector.pipeline.who_pays import VISMA_PAYS
from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset

INVOICES = "stampli_invoices_C100234_20250331T071500Z_0001.csv"
PAYMENTS = "stampli_payments_C100234_20250331T073000Z_0001.csv"
VOIDS = "stampli_payments_C100234_20250331T083000Z_0002.csv"
PAYMENT_KINDS = ("payment", "payment_void")


def _cycle(app: service.App, name: str) -> CycleResult:
    [result] = asyncio.run(service.run_once(app, name))
    assert result.status == "ok", result.errors
    return result


def _put_all(c: Connection, ds: Dataset) -> None:
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    c.put_payments(PAYMENTS, ds.payments_text())
    c.put_payments(VOIDS, ds.voids_text())


def _assert_payments_skipped(app: service.App, c: Connection, ds: Dataset) -> None:
    """Every payment and void of the files is in the ledger, skipped, with the reason as its audit."""
    payments = [d for d in app.ledger.all_documents(c.name) if d.kind in PAYMENT_KINDS]
    assert len(payments) == len(ds.payment_rows) + len(ds.void_rows) > 0
    assert {d.status for d in payments} == {DocStatus.SKIPPED}
    for d in payments:
        reasons = [row["reason"] for row in app.ledger.audit_trail("document", d.doc_key)]
        assert VISMA_PAYS in reasons, (d.doc_key, reasons)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_supplier_ledger_posts_no_payment_and_creates_invoices_ready_for_payment(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice", payments_source="visma")
    ds = Dataset.make(8, missing=0)
    assert ds.payment_rows and ds.void_rows
    _put_all(c, ds)
    app = c.open_app()
    first = _cycle(app, c.name)
    assert first.posting.posted == len(ds.invoice_ids)  # the invoices only
    assert first.intake.skipped == len(ds.payment_rows) + len(ds.void_rows)
    assert c.sim.supplier_payments() == [] and c.sim.journal() == []
    documents = c.supplier_documents()
    assert sorted(documents) == sorted(f"ST-{i}" for i in ds.invoice_ids)
    assert all(d["paySelected"] is True for ds_ in documents.values() for d in ds_)
    _assert_payments_skipped(app, c, ds)
    again = _cycle(app, c.name)
    assert again.posting.posted == 0 and again.intake.skipped == 0
    assert c.sim.supplier_payments() == [] and c.sim.journal() == []


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_journal_target_posts_the_invoices_and_no_payment(connection_factory: ConnectionFactory) -> None:
    c = connection_factory(payments_source="visma")
    ds = Dataset.make(6, missing=0)
    _put_all(c, ds)
    app = c.open_app()
    result = _cycle(app, c.name)
    assert result.posting.posted == len(ds.invoice_ids)
    # exactly the invoices' batches: no payment (SP-) nor void (SPV-) reference in Visma
    c.assert_exactly_once(ds.expected(ds.invoice_ids, payments=False))
    _assert_payments_skipped(app, c, ds)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_preview_shows_each_payment_skipped_with_the_reason(connection_factory: ConnectionFactory) -> None:
    c = connection_factory(target="supplier_invoice", payments_source="visma")
    ds = Dataset.make(4, missing=0)
    local = c.workdir / "stampli_payments_C100234_preview.csv"
    local.write_text(ds.payments_text(), encoding="utf-8", newline="")
    shown = c.cli("preview", str(local), "--json")
    assert shown.returncode == 0, shown.stderr
    documents = json.loads(shown.stdout)["documents"]
    assert len(documents) == len(ds.payment_rows) > 0
    assert {(d["action"], d["detail"]) for d in documents} == {("skip", VISMA_PAYS)}
