"""The client's supplier-ledger calls against the Visma simulator over real HTTP on loopback:
create, read both document types, list (paged, windowed), release Done/Failed/queued, attachments.

Every exchange is validated against tests/support/visma_contract.yml by the ``visma_sim`` fixture;
each test also asserts that no violation was recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ml_connector import retry
from ml_connector.adapters.visma.ports import SupplierInvoiceTarget
from ml_connector.adapters.visma.supplier_invoices import supplier_invoice_dto
from ml_connector.adapters.visma.upload import Upload
from ml_connector.domain.journal import Segment
from ml_connector.domain.problems import Category
from ml_connector.domain.supplier_invoice import DocumentType, SupplierInvoiceLine, SupplierInvoiceVoucher
from ml_connector.errors import AmbiguousDestinationError, RejectedByDestinationError
from tests.support.visma_sim import VismaSim
from tests.visma.test_client_sim import assert_contract_clean, client_for
from tests.visma.test_client_support import FakeVisma, ambiguous_create_answers, fast_retries, json_response

PDF = b"%PDF-1.4\n\x00\xff\xfe binary bytes that must survive\n%%EOF\n"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def invoice(
    reference: str = "F-2025-117",
    amount: str = "1250.50",
    *,
    document_type: DocumentType = "Invoice",
    supplier: str = "10023",
    day: int = 5,
) -> SupplierInvoiceVoucher:
    return SupplierInvoiceVoucher(
        supplier=supplier,
        supplier_reference=reference,
        document_type=document_type,
        document_date=date(2025, 3, day),
        financial_period="202503",
        currency="NOK",
        due_date=date(2025, 4, 4),
        payment_reference="1234567890128",
        note="Stampli invoice 4711",
        lines=(
            SupplierInvoiceLine(
                "6800", Decimal(amount), "Kopipapir", (Segment(1, "0200"), Segment(2, "00")), vat_code="1"
            ),
        ),
    )


def test_request_body_has_exact_decimals_and_the_spec_field_names() -> None:
    dto = supplier_invoice_dto(invoice(amount="31748.10"))
    assert dto["documentType"] == {"value": "Invoice"} and dto["supplierNumber"] == {"value": "10023"}
    assert dto["supplierReference"] == {"value": "F-2025-117"}
    assert dto["date"] == {"value": "2025-03-05T00:00:00"}
    assert dto["dueDate"] == {"value": "2025-04-04T00:00:00"}
    assert dto["financialPeriod"] == {"value": "202503"} and dto["paymentRefNo"] == {"value": "1234567890128"}
    assert dto["validateLineDetails"] == {"value": True}
    lines = dto["invoiceLines"]
    assert isinstance(lines, list) and len(lines) == 1
    line: dict[str, Any] = lines[0]
    assert line["unitCostInCurrency"] == {"value": Decimal("31748.10")}
    assert line["vatCodeId"] == {"value": "1"}
    segments = [{"segmentId": 1, "segmentValue": "0200"}, {"segmentId": 2, "segmentValue": "00"}]
    assert line["subaccount"] == segments


async def test_create_and_get_both_document_types(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice(amount="31748.10"))
        credit = await c.create_supplier_invoice(invoice("CN-7", "100.05", document_type="DebitAdj"))
        assert (created.key, credit.key) == ("Invoice/000001", "DebitAdj/000002")
        assert created.etag and created.location.endswith("/v1/supplierInvoice/000001")
        doc = await c.get_supplier_invoice("Invoice", "000001")
        note = await c.get_supplier_invoice("DebitAdj", "000002")  # never the short path
    # amount is the document's total: the line plus the VAT Visma computes for code 1 (25 %)
    assert doc.amount == Decimal("39685.13") and doc.status == "Balanced" and doc.supplier == "10023"
    assert doc.supplier_reference == "F-2025-117" and doc.financial_period == "202503"
    assert doc.lines[0].cost == Decimal("31748.10") and doc.lines[0].vat_code == "1"
    assert doc.etag and doc.last_modified is not None and doc.last_modified.tzinfo is not None
    assert note.document_type == "DebitAdj" and note.amount == Decimal("125.06")  # 100.05 + 25.01
    stored = visma_sim.supplier_ledger()["documents"][0]
    assert stored["paymentRefNo"] == "1234567890128" and stored["note"] == "Stampli invoice 4711"
    assert_contract_clean(visma_sim)


async def test_get_of_an_unknown_document_is_rejected(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        with pytest.raises(RejectedByDestinationError) as caught:
            await c.get_supplier_invoice("DebitAdj", "999999")
    assert caught.value.status == 404
    assert_contract_clean(visma_sim)


async def test_list_reads_every_page_and_keeps_to_the_supplier_and_window(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim, page_size=2) as c:
        for i in range(5):
            await c.create_supplier_invoice(invoice(f"A-{i}", day=3 + i))
        await c.create_supplier_invoice(invoice("B-1", supplier="10057"))
        everything = await c.supplier_invoices("10023")
        window = await c.supplier_invoices("10023", date_from=date(2025, 3, 4), date_to=date(2025, 3, 6))
        none = await c.supplier_invoices("10023", date_from=date(2025, 4, 1))
    assert [r.supplier_reference for r in everything] == [f"A-{i}" for i in range(5)]
    assert [r.supplier_reference for r in window] == ["A-1", "A-2", "A-3"]
    assert none == []
    assert_contract_clean(visma_sim)


async def test_every_suppliers_listing_keeps_to_the_window_and_to_its_read_budget(
    visma_sim: VismaSim,
) -> None:
    """One listing of every supplier's documents (no supplier filter), paged; None once it would take
    more reads than allowed, which the first page's totalCount tells."""
    async with client_for(visma_sim, page_size=2) as c:
        for i in range(5):
            await c.create_supplier_invoice(invoice(f"A-{i}", day=3 + i))
        await c.create_supplier_invoice(invoice("B-1", supplier="10057"))
        visma_sim.reset_stats()
        window = await c.supplier_invoices_dated(
            date_from=date(2025, 3, 4), date_to=date(2025, 3, 6), most_reads=4
        )
        reads_all = visma_sim.stats()["requests"]["GET /v1/supplierInvoice"]
        visma_sim.reset_stats()
        too_many = await c.supplier_invoices_dated(
            date_from=date(2025, 3, 1), date_to=date(2025, 3, 31), most_reads=3
        )
        reads_refused = visma_sim.stats()["requests"]["GET /v1/supplierInvoice"]
    assert window is not None
    assert sorted(r.supplier_reference or "" for r in window) == ["A-1", "A-2", "A-3", "B-1"]
    assert too_many is None
    # 6 documents, 2 a page: 3 full pages and the empty one that ends the listing; with 3 allowed,
    # the first page's totalCount already says it would take 4
    assert (reads_all, reads_refused) == (4, 1)
    assert_contract_clean(visma_sim)


async def test_release_done_returns_the_new_etag_and_opens_the_document(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice())
        etag = await c.release_supplier_invoice("Invoice", created.number, created.etag)
        doc = await c.get_supplier_invoice("Invoice", created.number)
    assert doc.status == "Open" and doc.released and etag == doc.etag
    assert_contract_clean(visma_sim)


async def test_release_failed_is_a_classified_refusal(visma_sim: VismaSim) -> None:
    try:
        async with client_for(visma_sim) as c:
            created = await c.create_supplier_invoice(invoice())
            visma_sim.close_supplier_ledger("202503")
            with pytest.raises(RejectedByDestinationError) as caught:
                await c.release_supplier_invoice("Invoice", created.number)
    finally:
        visma_sim.open_supplier_ledger("202503")
    assert "closed in Supplier Ledger" in str(caught.value)
    assert caught.value.fix_by == Category.VISMA_MASTER_DATA  # names the period: master data
    assert_contract_clean(visma_sim)


async def test_release_queued_is_polled_until_the_document_is_released(visma_sim: VismaSim) -> None:
    visma_sim.set_supplier_ledger(release="queued")
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice("CN-9", document_type="DebitAdj"))
        etag = await c.release_supplier_invoice("DebitAdj", created.number, created.etag)
        assert c.counters["releases_queued"] == 1
        doc = await c.get_supplier_invoice("DebitAdj", created.number)
    assert doc.status == "Open" and etag == doc.etag
    assert_contract_clean(visma_sim)


async def test_a_queued_release_that_has_not_run_after_the_bound_is_ambiguous(visma_sim: VismaSim) -> None:
    # The simulator runs a queued job at once, so the poll is driven directly on a document that
    # stays Balanced (as one whose background job never ran would).
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice())
        c.release_polls, c.release_poll_interval = 2, 0.0
        with pytest.raises(AmbiguousDestinationError, match="had not run after 2 polls"):
            await c._await_release("Invoice", created.number, "release")
        assert c.counters["GET /v1/supplierInvoice/{documentType}/{number}"] == 2
    assert_contract_clean(visma_sim)


async def test_attachments_keep_bytes_and_a_reupload_is_a_new_revision(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice("CN-3", document_type="DebitAdj"))
        first = await c.attach_to_supplier_invoice("DebitAdj", created.number, Upload("faktura.pdf", PDF))
        second = await c.attach_to_supplier_invoice("DebitAdj", created.number, Upload("faktura.pdf", PDF))
        listed = await c.supplier_invoice_attachments("DebitAdj", created.number)
    assert (first.revision, second.revision) == (1, 2) and first.attachment_id == second.attachment_id
    assert [(a.name, a.revision) for a in listed] == [("faktura.pdf", 2)]
    revisions = visma_sim.supplier_ledger()["documents"][0]["attachments"][0]["revisions"]
    assert [r["sha256"] for r in revisions] == [hashlib.sha256(PDF).hexdigest()] * 2
    assert_contract_clean(visma_sim)


async def test_attach_to_a_journal_transaction(visma_sim: VismaSim) -> None:
    from tests.visma.test_client_sim import voucher

    async with client_for(visma_sim) as c:
        batch = await c.create_journal(voucher("REF-ATT-1"))
        info = await c.attach_to_journal(batch.batch_number, Upload('scan "1".pdf', PDF))
        listed = await c.journal_attachments(batch.batch_number)
    assert info.revision == 1 and [a.name for a in listed] == [info.name]
    assert_contract_clean(visma_sim)


async def test_supplier_invoice_target_speaks_documenttype_slash_number(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        target = SupplierInvoiceTarget(c)
        voucher = invoice("CN-11", "99.95", document_type="DebitAdj")
        assert json.loads(json.dumps(supplier_invoice_dto(voucher), default=str))["documentType"] == {
            "value": "DebitAdj"
        }
        created = await target.create(voucher)
        assert created.number == "DebitAdj/000001"
        etag = await target.release(created.number, created.etag)
        booked = await target.get(created.number)
        existing = await target.existing("10023", date_from=date(2025, 3, 1), date_to=date(2025, 3, 31))
    assert booked.number == "DebitAdj/000001" and booked.status == "Open" and booked.etag == etag
    assert booked.lines[0].credit == Decimal("99.95") and booked.lines[0].reference == "CN-11"
    assert [b.number for b in existing] == ["DebitAdj/000001"] and "CN-11" in existing[0].references
    assert_contract_clean(visma_sim)


@pytest.mark.parametrize("entry", ambiguous_create_answers())
async def test_create_with_unknown_outcome_is_ambiguous_and_never_resent(entry: object) -> None:
    fake = FakeVisma()
    created = json_response(201, None, {"Location": "https://api.test/v1/supplierInvoice/000001"})
    fake.route("POST", "/v1/supplierInvoice", entry, created)  # type: ignore[arg-type]
    with fast_retries():
        async with fake.client() as c:
            with pytest.raises(AmbiguousDestinationError):
                await c.create_supplier_invoice(invoice())
    assert len(fake.api_requests("POST")) == 1


async def test_upload_is_one_multipart_part_named_file_with_the_exact_bytes() -> None:
    fake = FakeVisma()
    path = "/v1/supplierInvoice/documentType/DebitAdj/000002/attachment"
    fake.route("POST", path, json_response(201, {"name": "f.pdf", "id": "a1", "revision": 1}))
    async with fake.client() as c:
        info = await c.attach_to_supplier_invoice("DebitAdj", "000002", Upload("f.pdf", PDF))
    assert (info.name, info.attachment_id, info.revision) == ("f.pdf", "a1", 1)
    (req,) = fake.api_requests("POST")
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'Content-Disposition: form-data; name="file"; filename="f.pdf"' in req.content
    assert PDF in req.content and req.headers["authorization"].startswith("Bearer ")
