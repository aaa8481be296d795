"""The invoice image over the in-memory ports: fetched with the export, attached between create and
release, a missing one warned or (``posting.require_image``) parked until it appears, an attach
that fails retried next cycle or parked with Visma's answer. The same over real SSH and HTTP is in
tests/pipeline/test_images.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ml_connector.errors import (
    AmbiguousDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.images import IMAGE_MISSING, image_counts
from ml_connector.pipeline.replay import replay
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import INVOICES, NAME, World, config, world_on
from tests.support.fakes import FakeStampli, FakeVisma

IMAGES = f"{INVOICES}/images"


@pytest.fixture(scope="module")
def pictured() -> Dataset:
    return Dataset.make(10, missing=0, images=True)


def _put_image(world: World, ds: Dataset, invoice_id: str) -> tuple[str, bytes]:
    name, data = ds.image_of(invoice_id)
    world.stampli.put(f"{IMAGES}/{name}", data)
    return name, data


def _doc(world: World, invoice_id: str):  # type: ignore[no-untyped-def]
    doc = world.ledger.document(NAME, f"INV:{invoice_id}")
    assert doc is not None
    return doc


def _calls(world: World, kind: str) -> list[str]:
    return [c for c in world.visma.calls if c.startswith(kind)]


async def test_images_are_fetched_attached_then_released(world: World, pictured: Dataset) -> None:
    ids = pictured.invoice_ids  # the 10th names its file in documentFile, the others <id>.pdf
    world.put_invoices(pictured.invoices_text(ids))
    sent = dict(_put_image(world, pictured, i) for i in ids)
    assert any(" scan.pdf" in name for name in sent)  # both naming rules are exercised
    result = await world.cycle()
    assert result.status == "ok", result.errors
    assert result.intake.images_fetched == len(ids) and result.intake.images_missing == 0
    assert result.posting.attached == len(ids) and result.posting.posted == len(ids)
    for invoice_id in ids:
        doc = _doc(world, invoice_id)
        name, data = pictured.image_of(invoice_id)
        assert (doc.image_name, doc.image_size) == (name, len(data))
        assert doc.image_sha256 == hashlib.sha256(data).hexdigest()
        assert doc.image_attached_at is not None and doc.status == DocStatus.POSTED
        assert Path(str(doc.image_path)).read_bytes() == data  # our archived copy
        assert world.visma.attachments[str(doc.batch_number)] == {name: [data]}
    # each document: create, then attach, then release (never released before its image)
    for number in world.visma.attachments:
        order = [c.split()[0] for c in world.visma.calls if c.split()[1:2] == [number]]
        assert order == ["attach", "release"], order
    assert image_counts(world.ledger.all_documents(NAME)) == {"with_image": 10, "attached": 10, "missing": 0}

    again = await world.cycle()  # nothing new: nothing fetched, nothing attached again
    assert again.intake.images_fetched == 0 and again.posting.attached == 0
    assert len(_calls(world, "attach")) == len(ids)


async def test_a_missing_image_is_a_warning_and_the_invoice_posts(world: World, pictured: Dataset) -> None:
    ids = pictured.invoice_ids[:3]
    world.put_invoices(pictured.invoices_text(ids))
    _put_image(world, pictured, ids[0])
    result = await world.cycle()
    assert result.posting.posted == 3 and result.posting.attached == 1
    assert result.intake.images_missing == 2 and not world.open_failures()
    lone = _doc(world, ids[1])
    assert lone.image_sha256 is None and lone.image_attached_at is None
    assert lone.image_note == f"no image {IMAGES}/{ids[1]}.pdf beside the export " + str(
        lone.source["provenance"]["remotePath"]
    )
    assert len(_calls(world, "attach")) == 1


async def test_require_image_parks_until_the_image_appears(
    tmp_path: Path, ledger_template: Path, pictured: Dataset
) -> None:
    world = world_on(tmp_path, ledger_template, FakeVisma.demo(), FakeStampli(), config(require_image=True))
    try:
        ids = pictured.invoice_ids[:2]
        world.put_invoices(pictured.invoices_text(ids))
        _put_image(world, pictured, ids[0])
        first = await world.cycle()
        assert first.posting.posted == 1 and first.intake.images_missing == 1
        [failure] = world.open_failures()
        assert failure["code"] == IMAGE_MISSING and failure["category"] == "source_data"
        assert f"{ids[1]}.pdf" in str(failure["reason"]) and "require_image" in str(failure["reason"])
        assert world.status(f"INV:{ids[1]}") == DocStatus.PARKED

        still = await world.cycle()  # looked for again; still not there: no new failure, nothing sent
        assert still.posting.posted == 0 and len(world.open_failures()) == 1
        assert len(world.visma.created) == 1

        name, data = _put_image(world, pictured, ids[1])
        arrived = await world.cycle()
        assert arrived.intake.images_arrived == 1 and arrived.posting.posted == 1
        assert arrived.posting.attached == 1 and not world.open_failures()
        doc = _doc(world, ids[1])
        assert world.visma.attachments[str(doc.batch_number)] == {name: [data]}
    finally:
        world.ledger.close()


async def test_require_image_holds_an_invoice_whose_lookup_did_not_finish(
    tmp_path: Path, ledger_template: Path, pictured: Dataset
) -> None:
    """No image step ran (e.g. the SFTP side failed after the file was read): nothing is concluded,
    and an invoice that must carry its image is not posted without it."""
    world = world_on(tmp_path, ledger_template, FakeVisma.demo(), FakeStampli(), config(require_image=True))
    try:
        world.put_invoices(pictured.invoices_text(pictured.invoice_ids[:1]))
        result = await world.cycle()
        # the image folder was listed and the image is not there: parked (not posted)
        assert result.posting.posted == 0 and world.statuses() == {DocStatus.PARKED: 1}
        # an operator replays it by hand while the image is still missing: it waits, never posts
        replay(world.rt, None, actor="test")
        assert world.statuses() == {DocStatus.PENDING: 1}
        from ml_connector.pipeline.cycle import run_cycle

        await run_cycle(world.rt, intake_files=False)  # no SFTP step at all: no image lookup
        assert world.visma.created == [] and world.statuses() == {DocStatus.PENDING: 1}
    finally:
        world.ledger.close()


@pytest.mark.parametrize(
    "failure",
    [RetriableDestinationError("connect refused (fake)"), AmbiguousDestinationError("read timeout (fake)")],
    ids=["retriable", "ambiguous"],
)
async def test_an_attach_that_fails_is_retried_next_cycle_before_release(
    world: World, pictured: Dataset, failure: Exception
) -> None:
    invoice_id = pictured.invoice_ids[0]
    world.put_invoices(pictured.invoices_text([invoice_id]))
    name, data = _put_image(world, pictured, invoice_id)
    world.visma.attach_failures.append(failure)
    first = await world.cycle()
    assert first.posting.posted == 0 and first.posting.retry_later == 1
    doc = _doc(world, invoice_id)
    assert doc.status == DocStatus.CREATED and doc.image_attached_at is None
    assert _calls(world, "release") == []  # not released without its image

    second = await world.cycle()
    assert second.posting.attached == 1 and second.posting.posted == 1
    assert len(world.visma.created) == 1  # never created twice
    assert world.visma.attachments[str(doc.batch_number)] == {name: [data]}
    assert world.status(f"INV:{invoice_id}") == DocStatus.POSTED


async def test_a_refused_attach_parks_with_vismas_answer_and_replay_attaches(
    world: World, pictured: Dataset
) -> None:
    invoice_id = pictured.invoice_ids[0]
    world.put_invoices(pictured.invoices_text([invoice_id]))
    name, data = _put_image(world, pictured, invoice_id)
    refusal = RejectedByDestinationError("400", status=400, visma_message="The file type is not allowed.")
    world.visma.attach_failures.append(refusal)
    first = await world.cycle()
    assert first.posting.parked == 1 and first.posting.posted == 0
    [failure] = world.open_failures()
    assert failure["visma_answer"] == "The file type is not allowed."
    assert str(failure["code"]).startswith("attach_refused") and "not created again" in str(failure["reason"])

    replay(world.rt, None, actor="test")
    assert world.status(f"INV:{invoice_id}") == DocStatus.CREATED
    second = await world.cycle()
    assert second.posting.attached == 1 and second.posting.posted == 1
    assert len(world.visma.created) == 1
    doc = _doc(world, invoice_id)
    assert world.visma.attachments[str(doc.batch_number)] == {name: [data]}


async def test_an_altered_archive_copy_is_never_sent(world: World, pictured: Dataset) -> None:
    invoice_id = pictured.invoice_ids[0]
    world.put_invoices(pictured.invoices_text([invoice_id]))
    _put_image(world, pictured, invoice_id)
    world.visma.attach_failures.append(RetriableDestinationError("down (fake)"))
    await world.cycle()  # created; the attach waits for the next cycle
    doc = _doc(world, invoice_id)
    Path(str(doc.image_path)).write_bytes(b"not the image that was downloaded")
    await world.cycle()
    [failure] = world.open_failures()
    assert failure["code"] == "image_archive" and str(doc.image_sha256) in str(failure["reason"])
    assert world.visma.attachments == {} and world.status(f"INV:{invoice_id}") == DocStatus.PARKED
