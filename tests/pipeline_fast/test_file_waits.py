"""A file's documents wait for the whole file (issue 18, the format's rule that a file-level failure
quarantines the whole file): the reader may raise ``FileRejected`` late in its single pass, after it
handed out documents of that file. Over the in-memory ports: those documents stay ``reading`` and are
never posted, its voids void nothing, a replay that reads the file to its end releases them (each
posted once), a file set aside skips them, a crash half-way releases them when the file is read
again, and a normal file goes ``reading`` -> ``pending`` in one bulk step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_connector.domain.documents import Invoice, Payment
from ml_connector.domain.issues import Issue, error
from ml_connector.pipeline import intake
from ml_connector.pipeline.cycle import run_cycle
from ml_connector.pipeline.intake import Inserts
from ml_connector.pipeline.replay import replay, set_aside
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.read import RejectedRecord, iter_export
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import NAME, DocStatus, World
from tests.pipeline_fast.test_intake_commits import _no_posting, counting_commits


class _Crash(BaseException):
    """Stands for the process dying half-way through a file (not a reader error)."""


class _BreaksAfter:
    """The real reader, except that after ``n`` items the stream raises, as the single-pass reader
    does when it meets a wrong field count or a truncated last record late in the file."""

    def __init__(self, n: int, *, crash: bool = False) -> None:
        self.n, self.crash = n, crash
        self.issues: list[Issue] = []

    def __call__(self, path: Path, **kw: Any) -> _BreaksAfter:
        self._inner = iter_export(path, **kw)
        self.issues = self._inner.issues
        self._given = 0
        return self

    def __iter__(self) -> Iterator[Invoice | Payment | RejectedRecord]:
        return self

    def __next__(self) -> Invoice | Payment | RejectedRecord:
        if self._given == self.n:
            if self.crash:
                raise _Crash
            raise FileRejected([error("field_count", "record 9 has 3 fields, the header 31")])
        self._given += 1
        return next(self._inner)


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``reader(stream)``: the cycles read files with ``stream`` until ``reader(None)``."""
    defaults = intake.process_file.__kwdefaults__
    assert defaults is not None and defaults["read"] is iter_export

    def use(stream: Any) -> None:
        monkeypatch.setitem(defaults, "read", iter_export if stream is None else stream)

    yield use


def _statuses(world: World, keys: list[str]) -> set[str]:
    return {world.status(k) for k in keys}


def _once(world: World, references: list[str]) -> None:
    assert references
    for ref in references:
        assert len(world.visma.batches(ref)) == 1, ref


async def test_a_file_that_breaks_off_posts_nothing_and_a_replay_posts_each_once(
    world: World, dataset: Dataset, reader: Any
) -> None:
    ids = dataset.invoice_ids
    keys = [f"INV:{i}" for i in ids[:4]]
    world.put_invoices(dataset.invoices_text(ids[:4]))
    reader(_BreaksAfter(3))
    first = await world.cycle()
    assert first.status == "ok", first.errors
    assert first.intake.files_rejected == 1 and first.intake.waiting == 3
    assert first.posting.posted == 0 and world.visma.created == []
    read = [d for d in world.ledger.all_documents(NAME)]
    assert len(read) == 3 and {d.status for d in read} == {DocStatus.READING}
    (failure,) = world.open_failures()
    assert str(failure["code"]).startswith("file_rejected:") and "field_count" in str(failure["code"])
    assert "3 documents read before this wait for the file" in str(failure["reason"])
    assert "stay taken in" not in str(failure["reason"])
    (row,) = world.ledger.files_with_status(NAME, ["rejected"])
    assert row.id == failure["file_id"]

    # the next cycle does not read the file again, and still posts nothing of it
    again = await world.cycle()
    assert again.intake.files_new == 0 and again.posting.posted == 0 and world.visma.created == []

    # the reader is fixed: the replay reads the file to its end, finds the 3 by content, releases all 4
    reader(None)
    result = replay(world.rt, [int(str(failure["id"]))], actor="ops")
    assert result.files_reread == [row.remote_path] and result.refused == []
    assert _statuses(world, keys) == {DocStatus.PENDING}
    assert [r.status for r in world.ledger.files_with_status(NAME, ["processed"])] == ["processed"]
    third = await world.cycle()
    assert third.status == "ok" and third.posting.posted == 4
    _once(world, [f"ST-{i}" for i in ids[:4]])
    assert world.open_failures() == []


async def test_a_normal_file_goes_reading_then_pending_in_bulk_then_posts(
    world: World, dataset: Dataset
) -> None:
    ids = dataset.invoice_ids
    world.put_invoices(dataset.invoices_text(ids))
    read = await run_cycle(world.rt, post=_no_posting)
    assert read.intake.documents_new == len(ids) and read.intake.waiting == 0
    assert world.statuses() == {"pending": len(ids)}
    for i in ids:
        trail = world.ledger.audit_trail("document", f"INV:{i}")
        assert [(a.action, a.from_status, a.to_status) for a in trail[:2]] == [
            ("received", None, "reading"),
            ("file_read", "reading", "pending"),
        ]  # then the image note (no image beside this export)
        assert trail[1].actor == world.rt.actor and trail[1].connection == NAME
    posted = await world.cycle()
    assert posted.posting.posted == len(ids)
    _once(world, [f"ST-{i}" for i in ids])


async def test_a_void_in_a_file_that_breaks_off_voids_nothing(
    world: World, dataset: Dataset, reader: Any
) -> None:
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    world.put_payments(dataset.payments_text())
    first = await world.cycle()
    assert first.status == "ok" and world.statuses() == {"posted": first.posting.posted}
    (void,) = dataset.void_rows
    paid = f"PAY:{void['stampliPaymentId']}"
    assert world.status(paid) == DocStatus.POSTED

    world.put_payments(dataset.voids_text())
    reader(_BreaksAfter(1))  # the void is read, then the file breaks off
    broken = await world.cycle()
    assert broken.intake.files_rejected == 1 and broken.posting.posted == 0
    assert world.visma.batches(f"SPV-{void['stampliPaymentId']}") == []
    assert [d for d in world.ledger.all_documents(NAME) if d.kind == "payment_void"] == []
    assert world.status(paid) == DocStatus.POSTED

    # read to its end by a replay, the void is applied and its reversal posts once
    reader(None)
    (failure,) = world.open_failures()
    assert replay(world.rt, [int(str(failure["id"]))], actor="ops").files_reread
    fixed = await world.cycle()
    assert fixed.posting.posted == 1
    _once(world, [f"SPV-{void['stampliPaymentId']}"])


async def test_a_void_of_an_unposted_payment_in_a_broken_file_leaves_it_alone(
    world: World, dataset: Dataset, reader: Any
) -> None:
    (void,) = dataset.void_rows
    paid = f"PAY:{void['stampliPaymentId']}"
    world.put_payments(dataset.payments_text())
    await run_cycle(world.rt, post=_no_posting)
    assert world.status(paid) == DocStatus.PENDING
    world.put_payments(dataset.voids_text())
    reader(_BreaksAfter(1))
    await run_cycle(world.rt, post=_no_posting)
    assert world.status(paid) == DocStatus.PENDING  # not voided by a file that broke off
    assert [a.action for a in world.ledger.audit_trail("document", paid)] == ["received", "file_read"]


async def test_a_file_set_aside_skips_its_documents_and_another_file_brings_them_back(
    world: World, dataset: Dataset, reader: Any
) -> None:
    ids = dataset.invoice_ids
    world.put_invoices(dataset.invoices_text(ids[:3]))
    reader(_BreaksAfter(2))
    await world.cycle()
    (failure,) = world.open_failures()
    reader(None)
    aside = set_aside(world.rt, [int(str(failure["id"]))], actor="ops")
    assert aside.refused == [] and len(aside.files) == 1
    keys = [f"INV:{i}" for i in ids[:2]]
    assert _statuses(world, keys) == {DocStatus.SKIPPED}
    trail = world.ledger.audit_trail("document", keys[0])
    assert [(a.action, a.to_status) for a in trail][-1] == ("set_aside", "skipped")
    assert (await world.cycle()).posting.posted == 0

    # Stampli sends the export again, whole (another file): the skipped ones are read again and post
    world.put_invoices(dataset.invoices_text(ids[:3]).replace("\r\n", "\n"))
    second = await world.cycle()
    assert second.status == "ok" and second.posting.posted == 3
    assert {e["outcome"] for e in second.intake.events} == {"read_again"}
    _once(world, [f"ST-{i}" for i in ids[:3]])
    actions = [a.action for a in world.ledger.audit_trail("document", keys[0])]
    assert actions[:4] == ["received", "set_aside", "read_again", "file_read"] and actions[-1] == "released"


async def test_a_changed_copy_in_a_broken_file_is_not_posted(
    world: World, dataset: Dataset, reader: Any
) -> None:
    ids = dataset.invoice_ids
    world.put_invoices(dataset.invoices_text(ids[:1]))
    await run_cycle(world.rt, post=_no_posting)
    key = f"INV:{ids[0]}"
    assert world.status(key) == DocStatus.PENDING
    changed = dataset.invoices_text(ids[:2])
    first_row = dataset.invoice_rows[ids[0]][0]
    changed = changed.replace(first_row["description"], first_row["description"] + " (corrected)")
    assert changed != dataset.invoices_text(ids[:2])
    world.put_invoices(changed)
    reader(_BreaksAfter(1))
    result = await world.cycle()
    assert result.intake.superseded == 1 and result.posting.posted == 0
    assert world.status(key) == DocStatus.READING


async def test_a_crash_half_way_releases_the_documents_when_the_file_is_read_again(
    world: World, dataset: Dataset, reader: Any
) -> None:
    ids = dataset.invoice_ids
    world.put_invoices(dataset.invoices_text(ids[:4]))
    reader(_BreaksAfter(2, crash=True))
    with pytest.raises(_Crash):
        await world.cycle()
    assert world.statuses() == {"reading": 2}
    assert [r.status for r in world.ledger.files_with_status(NAME, ["downloaded"])] == ["downloaded"]
    reader(None)
    after = await world.cycle()  # resume_downloaded_files reads it again, to its end
    assert after.status == "ok" and after.posting.posted == 4
    _once(world, [f"ST-{i}" for i in ids[:4]])


async def test_only_the_documents_left_reading_are_said_to_wait(
    world: World, dataset: Dataset, reader: Any
) -> None:
    ids = dataset.invoice_ids
    world.put_invoices(dataset.invoices_text(ids[:2]))
    assert (await world.cycle()).posting.posted == 2
    world.put_invoices(dataset.invoices_text(ids[:4]))  # the two posted ones again, then two new
    reader(_BreaksAfter(3))
    broken = await world.cycle()
    assert broken.intake.duplicates == 2 and broken.intake.waiting == 1 and broken.posting.posted == 0
    (failure,) = world.open_failures()
    assert "(1 documents read before this wait for the file" in str(failure["reason"])
    assert world.status(f"INV:{ids[2]}") == DocStatus.READING
    assert world.ledger.reading_count(NAME, int(str(failure["file_id"]))) == 1


async def test_another_file_brings_back_a_broken_files_documents_in_groups(world: World, reader: Any) -> None:
    data = Dataset.make(Inserts.GROUP + 44)  # more than one group
    ids = data.invoice_ids
    world.put_invoices(data.invoices_text(ids))
    reader(_BreaksAfter(len(ids)))  # every document read, then the last record is found truncated
    broken = await run_cycle(world.rt, post=_no_posting)
    assert broken.intake.waiting == len(ids) and world.statuses() == {"reading": len(ids)}
    reader(None)
    world.put_invoices(data.invoices_text(ids).replace("\r\n", "\n"))  # Stampli's export again
    again, writing = await counting_commits(world)
    assert again.intake.duplicates == len(ids) and again.intake.documents_new == 0
    assert world.statuses() == {"pending": len(ids)}
    # the run row, the file's rows, master data, the image notes, two groups of read_again, the
    # release with the file's outcome: not one commit per document
    assert writing <= 30, writing
    trail = world.ledger.audit_trail("document", f"INV:{ids[-1]}")
    assert [a.action for a in trail][:3] == ["received", "read_again", "file_read"]
