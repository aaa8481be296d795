"""``PostingTarget.attach`` over real HTTP to the Visma simulator, in both modes: the journal
transaction (``JournalTarget``) and the supplier invoice (``SupplierInvoiceTarget``, both document
types), and the pipeline's attach step (``pipeline/attach.py``) finishing a created supplier invoice
(attach, then release with the version the upload answered with).

Visma reads back no size or hash of a stored file; the simulator's ``/_sim/`` pages do, so these
tests compare the bytes it stored with the bytes sent."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_connector import retry
from ml_connector.adapters.visma.ports import JournalTarget, SupplierInvoiceTarget
from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.pipeline.posting import PostingStats, finish_created
from ml_connector.pipeline.runtime import Runtime
from tests.pipeline_fast.conftest import config
from tests.support.fakes import FakeConnectors, FakeStampli, FakeVisma
from tests.support.visma_sim import VismaSim
from tests.visma.test_client_sim import assert_contract_clean, client_for, voucher
from tests.visma.test_client_supplier_invoices import invoice

PDF = b"%PDF-1.4\n\x00\xff\xfe\r\n binary bytes that must survive\n%%EOF\n"
DIGEST = hashlib.sha256(PDF).hexdigest()


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def _stored(attachments: list[dict[str, object]]) -> dict[str, list[tuple[object, object]]]:
    return {
        str(a["name"]): [(r["size"], r["sha256"]) for r in a["revisions"]]  # type: ignore[attr-defined]
        for a in attachments
    }


async def test_journal_target_attaches_and_the_release_names_the_new_version(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        target = JournalTarget(c)
        created = await target.create(voucher("REF-IMG-1"))
        first = await target.attach(created.number, "faktura 1.pdf", PDF)
        again = await target.attach(created.number, "faktura 1.pdf", PDF)  # a resend after a crash
        assert (first.name, first.revision, again.revision) == ("faktura 1.pdf", 1, 2)
        assert first.etag and again.etag and first.etag != created.etag != again.etag
        await target.release(created.number, again.etag)  # no 412: the upload's version
        booked = await target.get(created.number)
    assert booked.status == "Released"
    assert _stored(visma_sim.journal_attachments(created.number)) == {
        "faktura 1.pdf": [(len(PDF), DIGEST)] * 2
    }
    assert_contract_clean(visma_sim)


@pytest.mark.parametrize("document_type", ["Invoice", "DebitAdj"])
async def test_supplier_invoice_target_attaches_to_either_document_type(
    visma_sim: VismaSim, document_type: str
) -> None:
    async with client_for(visma_sim) as c:
        target = SupplierInvoiceTarget(c)
        created = await target.create(invoice(f"IMG-{document_type}", document_type=document_type))  # type: ignore[arg-type]
        assert created.number.startswith(f"{document_type}/")
        answer = await target.attach(created.number, "scan.pdf", PDF)
        assert (answer.name, answer.revision) == ("scan.pdf", 1) and answer.etag != created.etag
        await target.release(created.number, answer.etag)
        booked = await target.get(created.number)
    assert booked.status == "Open"  # released
    [document] = visma_sim.supplier_ledger()["documents"]
    assert document["documentType"] == document_type
    assert _stored(document["attachments"]) == {"scan.pdf": [(len(PDF), DIGEST)]}
    assert_contract_clean(visma_sim)


async def test_the_attach_step_finishes_a_created_supplier_invoice(
    visma_sim: VismaSim, tmp_path: Path
) -> None:
    """create (done) -> attach -> release, through ``finish_created`` with the supplier-ledger target:
    the step is the same for either target."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")  # migrated
    image = tmp_path / "archive" / "scan.pdf"
    image.parent.mkdir()
    image.write_bytes(PDF)
    rt = Runtime(
        config=config(),
        ledger=ledger,
        archive_dir=tmp_path / "archive",
        connectors=FakeConnectors(FakeVisma.demo(), FakeStampli()),
        settle_after=timedelta(0),
        configured_names=frozenset({"fast"}),
    )
    try:
        doc_id = ledger.insert_document(
            {
                "connection": "fast",
                "doc_key": "INV:IMG-SI-1",
                "kind": "invoice",
                "content_hash": "h",
                "reference": "IMG-SI-1",
                "source": {},
            },
            status=DocStatus.PENDING,
            actor="test",
            reason="test",
        )
        assert doc_id is not None
        ledger.transition(
            doc_id,
            "image_fetched",
            actor="test",
            image_name="scan.pdf",
            image_sha256=DIGEST,
            image_size=len(PDF),
            image_path=str(image),
        )
        async with client_for(visma_sim) as c:
            target = SupplierInvoiceTarget(c)
            assert ledger.claim(doc_id, voucher={}, period="202503", lease=timedelta(minutes=5))
            created = await target.create(invoice("IMG-SI-1"))
            ledger.transition(doc_id, "created", actor="test", batch_number=created.number, etag=created.etag)
            stats = PostingStats()
            port = SimpleNamespace(posting=target)
            await finish_created(rt, port, ledger.document_by_id(doc_id), stats)
        doc = ledger.document_by_id(doc_id)
        assert (stats.attached, stats.posted, doc.status) == (1, 1, DocStatus.POSTED)
        assert doc.image_attached_at is not None
        [document] = visma_sim.supplier_ledger()["documents"]
        assert document["status"] == "Open"
        assert _stored(document["attachments"]) == {"scan.pdf": [(len(PDF), DIGEST)]}
        assert_contract_clean(visma_sim)
    finally:
        ledger.close()
