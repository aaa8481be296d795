"""Intake hands a file's new documents to the ledger's writer thread and waits for them in groups
(issue 18): far fewer commits than documents, the same counts, and a key inserted meanwhile by
another process still ends as a duplicate, not an error."""

from __future__ import annotations

import pytest

from ml_connector.domain.stored import StoredDocument
from ml_connector.pipeline.cycle import CycleResult, run_cycle
from ml_connector.pipeline.intake import Inserts
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import PostingStats
from ml_connector.pipeline.runtime import Runtime
from tests.pipeline.conftest import Dataset
from tests.pipeline_fast.conftest import NAME, World
from tests.support.ledger_commits import LedgerCommits


async def _no_posting(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    return None


async def counting_commits(world: World) -> tuple[CycleResult, int]:
    """A cycle that reads without posting, and how many writing commits it took."""
    commits = LedgerCommits(world.ledger.engine)
    try:
        return await run_cycle(world.rt, post=_no_posting), commits.writing
    finally:
        commits.stop()


async def test_a_file_of_many_documents_takes_a_few_commits_not_one_each(world: World) -> None:
    data = Dataset.make(Inserts.GROUP + 44)  # more than one group
    ids = data.invoice_ids
    world.put_invoices(data.invoices_text(ids))
    result, writing = await counting_commits(world)
    assert result.intake.documents_new == len(ids) and result.intake.duplicates == 0
    assert world.statuses() == {"pending": len(ids)}
    # writing commits (an fsync each): the run row, the file's rows, master data, the image notes,
    # two groups of documents; one commit per document would be len(ids)
    assert writing <= 30, writing
    # each document still has its "received" audit row, written with it
    for doc in world.ledger.all_documents(NAME):
        assert world.ledger.audit_trail("document", doc.doc_key)[0].action == "received"


async def test_a_key_inserted_by_another_process_meanwhile_is_a_duplicate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Dataset.make(3)
    world.put_invoices(data.invoices_text(data.invoice_ids))
    first = await run_cycle(world.rt, post=_no_posting)
    assert first.intake.documents_new == 3
    # the same documents again (another file: other line endings), and the lookup misses them, as
    # when another worker inserts a key between our lookup and our insert
    real = world.ledger.document

    def not_yet(connection: str, key: str) -> StoredDocument | None:
        return None

    monkeypatch.setattr(world.ledger, "document", not_yet)
    world.put_invoices(data.invoices_text(data.invoice_ids).replace("\r\n", "\n"))
    second = await run_cycle(world.rt, post=_no_posting)
    monkeypatch.setattr(world.ledger, "document", real)
    assert second.status == "ok", second.errors
    assert second.intake.documents_new == 0 and second.intake.duplicates == 3
    assert {e["outcome"] for e in second.intake.events} == {"already_read"}
    assert world.statuses() == {"pending": 3}
