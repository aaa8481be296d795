"""Supplier payments over the in-memory ports (supplier-ledger mode, Stampli pays): a payment waits
for its invoice and posts in the cycle that releases it, applied to the invoice's Visma number; a
lost answer is found again by the lookup, never resent; a lookup that fails sends nothing; a void is
the VoidPayment of its payment; a fresh ledger adopts what Visma holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.errors import RetriableDestinationError
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.booked import FOUND_IN_VISMA
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import NAME, World
from tests.pipeline_fast.test_supplier_ledger_fast import si_world
from tests.support.fakes import FakeSupplierLedger, FakeSupplierPayments, FakeVisma, lost_answer


@pytest.fixture
def sp(tmp_path: Path, ledger_template: Path) -> World:
    visma = FakeVisma.demo()
    visma.supplier_ledger_fake = FakeSupplierLedger()  # type: ignore[attr-defined]
    visma.supplier_payments_fake = FakeSupplierPayments()  # type: ignore[attr-defined]
    return si_world(tmp_path, ledger_template, visma)


def pays(world: World) -> FakeSupplierPayments:
    fake: FakeSupplierPayments = world.visma.supplier_payments_fake  # type: ignore[attr-defined]
    return fake


def _posted(world: World, ds: Dataset) -> None:
    world.put_invoices(ds.invoices_text(ds.invoice_ids))
    world.put_payments(ds.payments_text())


async def test_a_payment_waits_for_its_invoice_and_posts_in_the_cycle_that_releases_it(
    sp: World, dataset: Dataset
) -> None:
    sp.put_payments(dataset.payments_text())
    first = await sp.cycle()
    assert first.posting.parked == len(dataset.payment_rows) > 0 and pays(sp).created == []
    assert {f["code"] for f in sp.open_failures()} == {"invoice_not_in_visma"}
    sp.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    second = await sp.cycle()
    assert second.posting.auto_replayed == len(dataset.payment_rows)
    assert len(pays(sp).created) == len(dataset.payment_rows)  # in this same cycle
    assert sp.statuses() == {DocStatus.POSTED: len(dataset.invoice_ids) + len(dataset.payment_rows)}
    for row in dataset.payment_rows:
        invoice = sp.ledger.document(NAME, f"INV:{row['stampliInvoiceId']}")
        assert invoice is not None
        [payment] = [p for p in pays(sp).created if p.reference == f"SP-{row['stampliPaymentId']}"]
        assert isinstance(payment, SupplierPaymentVoucher)
        [app] = payment.applications
        assert f"{app.document_type}/{app.document_number}" == invoice.batch_number  # Visma's number
        assert payment.amount == app.amount == payment.applied
    assert {b.status for b in pays(sp).docs.values()} == {"Closed"}  # released


async def test_a_lost_answer_is_found_by_the_lookup_and_never_sent_again(sp: World, dataset: Dataset) -> None:
    pays(sp).create_failures = [lost_answer()]
    _posted(sp, dataset)
    first = await sp.cycle()
    assert first.posting.unknown == 1
    second = await sp.cycle()
    assert second.posting.settled_found == 1 and second.posting.duplicates_found == 0
    assert len(pays(sp).created) == len(dataset.payment_rows)  # the lost one was not sent again
    assert sp.statuses() == {DocStatus.POSTED: len(dataset.invoice_ids) + len(dataset.payment_rows)}


async def test_a_lookup_that_fails_before_a_first_create_sends_no_payment(
    sp: World, dataset: Dataset
) -> None:
    sp.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    await sp.cycle()
    pays(sp).listing_failures = [RetriableDestinationError("503 (fake)")]
    sp.put_payments(dataset.payments_text())
    cycle = await sp.cycle()
    assert cycle.status == "partial" and pays(sp).created == []
    assert (await sp.cycle()).posting.posted == len(dataset.payment_rows)


async def test_a_void_of_a_posted_payment_is_its_void_payment(sp: World, dataset: Dataset) -> None:
    _posted(sp, dataset)
    await sp.cycle()
    [void_row] = dataset.void_rows
    original = sp.ledger.document(NAME, f"PAY:{void_row['stampliPaymentId']}")
    assert original is not None and str(original.batch_number).startswith("Payment/")
    sp.put_payments(dataset.voids_text())
    assert (await sp.cycle()).posting.posted == 1
    void = pays(sp).created[-1]
    assert isinstance(void, SupplierPaymentVoid)
    assert void.payment == original.batch_number and void.reference == f"SPV-{void_row['stampliPaymentId']}"
    assert pays(sp).docs[str(original.batch_number)].status == "Voided"
    assert (await sp.cycle()).posting.posted == 0 and pays(sp).created[-1] is void  # once


async def test_a_fresh_ledger_adopts_payments_and_sends_none(
    sp: World, dataset: Dataset, tmp_path: Path, ledger_template: Path
) -> None:
    _posted(sp, dataset)
    await sp.cycle()
    sent = len(pays(sp).created)
    fresh = sp.another_ledger(tmp_path, ledger_template)
    await fresh.cycle()
    assert len(pays(sp).created) == sent
    adopted = fresh.ledger.keys_with_action(NAME, FOUND_IN_VISMA)
    assert {k for k in adopted if k.startswith("PAY:")} == {
        f"PAY:{r['stampliPaymentId']}" for r in dataset.payment_rows
    }


async def test_a_payment_from_a_cash_account_in_another_currency_parks_naming_the_mapping(
    tmp_path: Path, ledger_template: Path
) -> None:
    dataset = Dataset.make(12, missing=0)  # it has a SEK payment
    visma = FakeVisma.demo()
    visma.supplier_ledger_fake = FakeSupplierLedger()  # type: ignore[attr-defined]
    visma.supplier_payments_fake = FakeSupplierPayments()  # type: ignore[attr-defined]
    world = si_world(tmp_path, ledger_template, visma)
    cfg = world.rt.config
    sek_to_nok = {**cfg.mapping.bank_accounts, "SEB-5000.00.58398": "1920"}  # 1920 is in NOK
    world.rt.config = replace(cfg, mapping=replace(cfg.mapping, bank_accounts=sek_to_nok))
    _posted(world, dataset)
    await world.cycle()
    sek = {f"PAY:{r['stampliPaymentId']}" for r in dataset.payment_rows if r["paymentCurrency"] == "SEK"}
    parked = {str(f["doc_key"]): f for f in world.open_failures()}
    assert sek and set(parked) == sek
    assert all(f["code"] == "cash_account_currency" for f in parked.values())
    assert "needs a cash account in SEK" in str(next(iter(parked.values()))["reason"])
    assert all(p.currency != "SEK" for p in pays(world).created)  # never sent
