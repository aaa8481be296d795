"""The cycle's rules over the in-memory ports: park on missing master data, replay once it exists,
skip duplicates, settle unknown outcomes, adopt what Visma already holds. Each runs in milliseconds;
the same flows over real SSH and HTTP stay in tests/pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ml_connector.demo.generate import MISSING_DEPARTMENT
from ml_connector.errors import AmbiguousDestinationError, RetriableDestinationError
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.booked import FOUND_IN_VISMA
from ml_connector.pipeline.rules import Category
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import World
from tests.support.fakes import lost_answer


def _refs(world: World) -> list[str]:
    return sorted(v.reference for v in world.visma.created)


async def test_new_invoices_are_posted_and_released_once(world: World, dataset: Dataset) -> None:
    ids = dataset.invoice_ids[:3]
    world.put_invoices(dataset.invoices_text(ids))
    result = await world.cycle()
    assert result.status == "ok", result.errors
    assert result.posting.posted == 3
    assert _refs(world) == sorted(f"ST-{i}" for i in ids)
    assert all(b.status == "Released" for b in world.visma.booked_by_number.values())
    assert world.statuses() == {DocStatus.POSTED: 3}
    assert world.connectors.opened == ["visma", "stampli"]

    again = await world.cycle()  # nothing new: nothing sent
    assert again.posting.posted == 0 and len(world.visma.created) == 3


async def test_the_same_file_under_another_name_is_not_posted_twice(world: World, dataset: Dataset) -> None:
    text = dataset.invoices_text(dataset.invoice_ids[:2])
    world.put_invoices(text)
    await world.cycle()
    world.put_invoices(text)  # re-exported by Stampli under a new name, same content
    second = await world.cycle()
    assert second.intake.files_skipped + second.intake.duplicates >= 1
    assert second.posting.posted == 0
    assert _refs(world) == sorted(f"ST-{i}" for i in dataset.invoice_ids[:2])


async def test_missing_segment_value_parks_and_replays_when_it_appears(world: World) -> None:
    ds = Dataset.make(3, missing=1)
    world.put_invoices(ds.invoices_text(ds.invoice_ids))
    first = await world.cycle()
    assert first.posting.parked == 1 and first.posting.posted == 2
    [failure] = world.open_failures()
    assert failure["category"] == Category.VISMA_MASTER_DATA
    assert "0450" in str(failure["reason"])

    world.visma.add_segment_value(1, MISSING_DEPARTMENT.zfill(4), "Ny avdeling")
    second = await world.cycle()
    assert second.posting.auto_replayed == 1 and second.posting.posted == 1
    assert world.open_failures() == []
    assert world.statuses() == {DocStatus.POSTED: 3}


async def test_missing_account_parks_and_replays_when_it_appears(world: World, dataset: Dataset) -> None:
    [inv] = dataset.invoice_ids[:1]
    rows = dataset.invoice_rows[inv]
    account = rows[0]["glAccount"]
    facts = world.visma.accounts_by_number.pop(account)
    world.put_invoices(dataset.invoices_text([inv]))
    first = await world.cycle()
    assert first.posting.parked == 1 and world.visma.created == []
    assert world.status(f"INV:{inv}") == DocStatus.PARKED
    assert account in str(world.open_failures()[0]["reason"])

    world.visma.add_account(account, description=facts.description, type=facts.type)
    second = await world.cycle()
    assert second.posting.auto_replayed == 1 and second.posting.posted == 1
    assert _refs(world) == [f"ST-{inv}"]


async def test_missing_supplier_parks_and_replays_when_it_appears(world: World, dataset: Dataset) -> None:
    [inv] = dataset.invoice_ids[:1]
    vendor = dataset.invoice_rows[inv][0]["vendorId"]
    supplier = world.visma.suppliers_by_number.pop(vendor)
    world.put_invoices(dataset.invoices_text([inv]))
    first = await world.cycle()
    assert first.posting.parked == 1 and world.visma.created == []
    assert vendor in str(world.open_failures()[0]["reason"])

    world.visma.add_supplier(vendor, name=supplier.name, currency_id=supplier.currency_id)
    second = await world.cycle()
    assert second.posting.auto_replayed == 1 and second.posting.posted == 1


async def test_closed_period_parks_and_posts_once_it_is_opened(world: World, dataset: Dataset) -> None:
    [inv] = dataset.invoice_ids[:1]
    world.visma.periods["202503"] = replace(world.visma.periods["202503"], closed_in_gl=True)
    world.put_invoices(dataset.invoices_text([inv]))
    first = await world.cycle()
    assert first.posting.parked == 1
    [failure] = world.open_failures()
    assert failure["code"] == "period_closed"

    world.visma.open_period("202503")
    second = await world.cycle()
    assert second.posting.auto_replayed == 1 and second.posting.posted == 1


async def test_unknown_outcome_that_was_booked_settles_as_found(world: World, dataset: Dataset) -> None:
    [inv] = dataset.invoice_ids[:1]
    world.visma.create_failures.append(lost_answer())
    world.put_invoices(dataset.invoices_text([inv]))
    first = await world.cycle()
    assert first.posting.unknown == 1
    assert world.status(f"INV:{inv}") == DocStatus.UNKNOWN

    second = await world.cycle()  # looked up by reference, never sent again
    assert second.posting.settled_found == 1
    assert world.status(f"INV:{inv}") == DocStatus.POSTED
    assert _refs(world) == [f"ST-{inv}"]
    assert len(world.visma.batches(f"ST-{inv}")) == 1


async def test_unknown_outcome_that_never_arrived_is_sent_again(world: World, dataset: Dataset) -> None:
    [inv] = dataset.invoice_ids[:1]
    world.visma.create_failures.append(AmbiguousDestinationError("connection dropped (fake)"))
    world.put_invoices(dataset.invoices_text([inv]))
    assert (await world.cycle()).posting.unknown == 1
    assert world.visma.created == []

    second = await world.cycle()  # not found by reference: safe to post, and posted
    assert second.posting.settled_not_found == 1 and second.posting.posted == 1
    assert len(world.visma.batches(f"ST-{inv}")) == 1


async def test_a_fresh_ledger_adopts_what_visma_already_holds(
    world: World, dataset: Dataset, tmp_path: Path, ledger_template: Path
) -> None:
    ids = dataset.invoice_ids[:3]
    world.put_invoices(dataset.invoices_text(ids))
    assert (await world.cycle()).posting.posted == 3

    fresh = world.another_ledger(tmp_path, ledger_template)  # the first ledger was lost
    try:
        result = await fresh.cycle()
        assert result.posting.already_in_visma == 3 and result.posting.posted == 0
        assert len(world.visma.created) == 3  # nothing sent a second time
        assert fresh.statuses() == {DocStatus.POSTED: 3}
        assert {str(i) for i in fresh.ledger.keys_with_action(fresh.rt.name, FOUND_IN_VISMA)} == {
            f"INV:{i}" for i in ids
        }
    finally:
        fresh.ledger.close()


async def test_an_unfinished_journal_listing_posts_nothing(world: World, dataset: Dataset) -> None:
    world.visma.listing_failures.append(RetriableDestinationError("503 on page 2 (fake)"))
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids[:2]))
    result = await world.cycle()
    assert result.status == "partial" and world.visma.created == []
    assert world.statuses() == {DocStatus.PENDING: 2}
    assert (await world.cycle()).posting.posted == 2
