"""``payments.source = "visma"`` over the in-memory ports: a payment read while Stampli still paid
(pending in the ledger) is skipped by the first cycle after the switch, with the reason, and never
sent; the invoices still post."""

from __future__ import annotations

from dataclasses import replace

from ml_connector.config.model import PaymentsConfig
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.intake import IntakeStats, intake
from ml_connector.pipeline.who_pays import VISMA_PAYS
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import NAME, World


async def test_a_payment_read_before_the_switch_is_skipped_not_posted(world: World, dataset: Dataset) -> None:
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    world.put_payments(dataset.payments_text())
    await intake(world.rt, world.stampli, IntakeStats())  # read while Stampli paid: pending
    payments = [d for d in world.ledger.all_documents(NAME) if d.kind == "payment"]
    assert payments and {d.status for d in payments} == {DocStatus.PENDING}

    world.rt.config = replace(world.rt.config, payments=PaymentsConfig(source="visma"))
    result = await world.cycle()
    assert result.posting.posted == len(dataset.invoice_ids)
    assert {v.reference for v in world.visma.created} == {f"ST-{i}" for i in dataset.invoice_ids}
    for d in payments:
        assert world.status(d.doc_key) == DocStatus.SKIPPED
        trail = world.ledger.audit_trail("document", d.doc_key)
        assert (trail[-1].action, trail[-1].reason) == ("skipped", VISMA_PAYS)
