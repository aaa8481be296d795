"""The supplier-ledger target over the in-memory ports: invoices become supplier invoices (credit
notes DebitAdj), released, never twice: our own document found with a fresh ledger is adopted,
another channel's is parked as ``duplicate_in_visma``, unknown creates settle by supplier, a read
that fails concludes nothing, Visma's release refusal parks with its text."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.adapters.visma.supplier_invoices import supplier_invoice_dto
from ml_connector.demo.generate import INVOICE_COLUMNS
from ml_connector.domain.supplier_invoice import SupplierInvoiceLine, SupplierInvoiceVoucher, VatDetail
from ml_connector.domain.voucher_codec import decode_voucher
from ml_connector.errors import (
    AmbiguousDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.booked import FOUND_IN_VISMA, LookupIncomplete
from ml_connector.pipeline.masterdata import AP_PERIOD
from ml_connector.pipeline.reconcile import reconcile, totals
from ml_connector.pipeline.supplier_booked import DATE_MARGIN, read_suppliers
from ml_connector.service.unreleased import unreleased_by_period
from tests.pipeline.conftest import Dataset, _csv
from tests.pipeline.test_accounting_cycle import reverse_charge_rows
from tests.pipeline_fast.conftest import NAME, World, config, world_on
from tests.support.fakes import FakeStampli, FakeSupplierLedger, FakeVisma, lost_answer

TAX_CODES = {"1": "1", "11": "11", "86": "86"}


def si_config(**posting: object) -> object:
    cfg = config(target="supplier_invoice", **posting)
    return replace(cfg, mapping=replace(cfg.mapping, tax_codes=TAX_CODES))


def si_world(where: Path, template: Path, visma: FakeVisma | None = None) -> World:
    if visma is None:
        visma = FakeVisma.demo()
        visma.supplier_ledger_fake = FakeSupplierLedger()  # type: ignore[attr-defined]
    return world_on(where, template, visma, FakeStampli(), si_config())  # type: ignore[arg-type]


@pytest.fixture
def si(tmp_path: Path, ledger_template: Path) -> World:
    return si_world(tmp_path, ledger_template)


def ap(world: World) -> FakeSupplierLedger:
    fake: FakeSupplierLedger = world.visma.supplier_ledger_fake  # type: ignore[attr-defined]
    return fake


def _doc(world: World, invoice_id: str):  # type: ignore[no-untyped-def]
    return next(d for d in world.ledger.all_documents(NAME) if d.reference == f"ST-{invoice_id}")


async def test_invoices_become_released_supplier_invoices_not_journals(si: World, dataset: Dataset) -> None:
    ids = dataset.invoice_ids
    si.put_invoices(dataset.invoices_text(ids))
    result = await si.cycle()
    assert result.status == "ok", result.errors
    assert len(ap(si).created) == len(ids) and si.visma.created == []  # no journal for an invoice
    assert {d.status for d in ap(si).docs.values()} == {"Open"}  # released
    assert si.statuses() == {DocStatus.POSTED: len(ids)}
    for inv in dataset.export.invoices:
        doc = _doc(si, inv.invoice_id)
        stored = decode_voucher(doc.voucher or {})  # the ledger keeps the domain voucher
        assert isinstance(stored, SupplierInvoiceVoucher)
        assert stored.total == abs(Decimal(str(doc.amount)))  # Stampli's total, to the øre
        assert str(doc.batch_number).startswith(stored.document_type + "/")
        assert stored.description and stored.description.startswith(f"ST-{inv.invoice_id} ")
    again = await si.cycle()  # one read per supplier, nothing sent again
    assert again.posting.posted == 0 and len(ap(si).created) == len(ids)


async def test_a_credit_note_is_a_debit_adjustment_with_positive_lines(si: World) -> None:
    ds = Dataset.make(17, missing=0)  # the generator makes every 17th document a credit note
    credit = [i for i in ds.export.invoices if i.document_type == "CREDIT_NOTE"]
    assert credit, "the generated export has a credit note"
    si.put_invoices(ds.invoices_text([credit[0].invoice_id]))
    assert (await si.cycle()).posting.posted == 1
    [voucher] = ap(si).created
    assert voucher.document_type == "DebitAdj" and all(ln.amount > 0 for ln in voucher.lines)
    assert next(iter(ap(si).docs)).startswith("DebitAdj/")


async def test_duplicate_from_another_channel_is_parked_not_sent(
    tmp_path: Path, ledger_template: Path, dataset: Dataset
) -> None:
    visma = FakeVisma.demo()
    fake = FakeSupplierLedger()
    visma.supplier_ledger_fake = fake  # type: ignore[attr-defined]
    world = si_world(tmp_path, ledger_template, visma)
    inv = dataset.export.invoices[0]
    einvoice = fake.add(
        SupplierInvoiceVoucher(
            supplier=inv.vendor_id,
            supplier_reference=f" {inv.number.lower()} ",  # written by another hand
            document_type="Invoice",
            document_date=inv.invoice_date,
            financial_period="202503",
            currency=inv.currency,
            lines=(SupplierInvoiceLine("6800", abs(Decimal(inv.total_ore)) / 100, "EHF"),),
        ),
        description="AutoInvoice EHF 4711",
    )
    world.put_invoices(dataset.invoices_text([inv.invoice_id]))
    result = await world.cycle()
    assert fake.created == [] and result.posting.duplicates_in_visma == 1
    assert _doc(world, inv.invoice_id).status == DocStatus.PARKED
    [failure] = world.open_failures()
    assert failure["code"] == "duplicate_in_visma" and einvoice.number in str(failure["reason"])
    again = await world.cycle()  # a person decides: it stays parked, never sent
    assert fake.created == [] and again.posting.posted == 0


async def test_a_fresh_ledger_adopts_our_own_documents(
    tmp_path: Path, ledger_template: Path, dataset: Dataset
) -> None:
    first = si_world(tmp_path / "a", ledger_template)
    first.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    await first.cycle()
    created = len(ap(first).created)
    fresh = si_world(tmp_path / "b", ledger_template, first.visma)  # the ledger was lost
    fresh.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    result = await fresh.cycle()
    assert result.status == "ok", result.errors
    assert len(ap(first).created) == created  # nothing sent again
    assert result.posting.already_in_visma == created and result.posting.duplicates_in_visma == 0
    assert fresh.statuses() == {DocStatus.POSTED: created}
    trail = fresh.ledger.audit_trail("document", _doc(fresh, dataset.invoice_ids[0]).doc_key)
    assert any(e.action == FOUND_IN_VISMA for e in trail)


@pytest.mark.parametrize("reached_visma", [True, False], ids=["booked-answer-lost", "never-booked"])
async def test_an_unknown_create_settles_by_supplier_and_posts_once(
    si: World, dataset: Dataset, reached_visma: bool
) -> None:
    inv = dataset.export.invoices[0]
    lost = lost_answer() if reached_visma else AmbiguousDestinationError("read timeout (test)")
    ap(si).create_failures.append(lost)
    si.put_invoices(dataset.invoices_text([inv.invoice_id]))
    first = await si.cycle()
    assert first.posting.unknown == 1 and _doc(si, inv.invoice_id).status == DocStatus.UNKNOWN
    second = await si.cycle()
    if reached_visma:
        assert second.posting.settled_found == 1
    else:
        assert second.posting.settled_not_found == 1
        await si.cycle()  # posted in the cycle after (or the same one, once pending)
    assert _doc(si, inv.invoice_id).status == DocStatus.POSTED
    assert len(ap(si).docs) == 1  # exactly once in Visma


async def test_a_supplier_read_that_fails_concludes_nothing(si: World, dataset: Dataset) -> None:
    ap(si).listing_failures.append(AmbiguousDestinationError("read timeout (test)"))
    si.put_invoices(dataset.invoices_text(dataset.invoice_ids[:2]))
    result = await si.cycle()
    assert result.status == "partial" and ap(si).created == []
    assert si.statuses() == {DocStatus.PENDING: 2}
    assert (await si.cycle()).posting.posted == 2


async def test_a_release_refused_with_failed_parks_with_vismas_text(si: World, dataset: Dataset) -> None:
    text = "Document is out of balance."
    ap(si).release_refusals.append(
        RejectedByDestinationError("release Failed", status=200, visma_message=text)
    )
    si.put_invoices(dataset.invoices_text(dataset.invoice_ids[:1]))
    result = await si.cycle()
    assert result.posting.parked == 1 and len(ap(si).created) == 1
    [failure] = si.open_failures()
    assert failure["code"] == "release_refused" and text in str(failure["reason"])
    assert "no second supplier invoice is created" in str(failure["reason"])


async def test_an_unmapped_tax_code_parks_naming_the_code_and_the_key(
    tmp_path: Path, ledger_template: Path, dataset: Dataset
) -> None:
    world = si_world(tmp_path, ledger_template)
    cfg = world.rt.config
    world.rt = replace(world.rt, config=replace(cfg, mapping=replace(cfg.mapping, tax_codes={"1": "1"})))
    coded = [i for i, rows in dataset.invoice_rows.items() if any(r["taxCode"] == "11" for r in rows)]
    assert coded, "the generated export has a line with tax code 11"
    world.put_invoices(dataset.invoices_text([coded[0]]))
    await world.cycle()
    [failure] = world.open_failures()
    assert failure["code"] == "vat_code_unmapped"
    assert "tax code 11" in str(failure["reason"]) and f"connections.{NAME}.mapping.tax_codes" in str(
        failure["reason"]
    )


async def test_a_period_closed_in_the_supplier_ledger_parks_and_replays_when_opened(
    si: World, dataset: Dataset
) -> None:
    inv = dataset.export.invoices[0]
    period = f"{inv.invoice_date.year}{inv.invoice_date.month:02d}"
    si.visma.periods[period] = replace(si.visma.periods[period], closed_in_ap=True)
    si.put_invoices(dataset.invoices_text([inv.invoice_id]))
    await si.cycle()
    [failure] = si.open_failures()
    assert "closed in the supplier ledger" in str(failure["reason"])
    assert failure["missing"] == [{"kind": AP_PERIOD, "key": period}]
    si.visma.periods[period] = replace(si.visma.periods[period], closed_in_ap=False)
    result = await si.cycle()
    assert result.posting.auto_replayed == 1 and _doc(si, inv.invoice_id).status == DocStatus.POSTED
    assert len(ap(si).created) == 1


async def test_reconcile_compares_supplier_invoices_by_reference_amount_and_status(
    si: World, dataset: Dataset
) -> None:
    ids = dataset.invoice_ids
    si.put_invoices(dataset.invoices_text(ids))
    await si.cycle()
    rows = await reconcile(si.rt, si.visma, "2025-03")
    assert totals(rows)["matched"] == len(ids), rows
    assert all(r.visma_total == r.sent_total and "Open" in r.detail for r in rows)
    # Visma's copy edited to another amount, and one deleted: both reported, nothing else
    fake = ap(si)
    first, second = sorted(fake.docs)[:2]
    fake.docs[first] = replace(fake.docs[first], amount=Decimal("1.00"))
    del fake.docs[second]
    after = totals(await reconcile(si.rt, si.visma, "2025-03"))
    assert after["amount_difference"] == 1 and after["missing_in_visma"] == 1
    assert after["matched"] == len(ids) - 2


async def test_unreleased_documents_are_counted_per_period(
    tmp_path: Path, ledger_template: Path, dataset: Dataset
) -> None:
    visma = FakeVisma.demo()
    visma.supplier_ledger_fake = FakeSupplierLedger()  # type: ignore[attr-defined]
    world = world_on(tmp_path, ledger_template, visma, FakeStampli(), si_config(release=False))  # type: ignore[arg-type]
    world.put_invoices(dataset.invoices_text(dataset.invoice_ids[:3]))
    await world.cycle()
    assert {d.status for d in ap(world).docs.values()} == {"Balanced"}  # left on hold in Visma
    assert unreleased_by_period(world.ledger, NAME) == {"202503": 3}
    released = si_world(tmp_path / "released", ledger_template)
    released.put_invoices(dataset.invoices_text(dataset.invoice_ids[:3]))
    await released.cycle()
    assert unreleased_by_period(released.ledger, NAME) == {}


async def test_a_create_refused_before_it_was_sent_posts_in_the_next_cycle(
    si: World, dataset: Dataset
) -> None:
    ap(si).create_failures.append(RetriableDestinationError("503 before processing (test)", status=503))
    si.put_invoices(dataset.invoices_text(dataset.invoice_ids[:1]))
    first = await si.cycle()
    assert first.posting.retry_later == 1 and ap(si).created == []
    second = await si.cycle()
    assert second.posting.posted == 1 and len(ap(si).docs) == 1


async def test_visma_refusing_the_create_parks_with_its_text(si: World, dataset: Dataset) -> None:
    text = "Error creating document. Error: TaxCategoryID '0' cannot be found in the system."
    ap(si).create_failures.append(RejectedByDestinationError("400", status=400, visma_message=text))
    si.put_invoices(dataset.invoices_text(dataset.invoice_ids[:1]))
    result = await si.cycle()
    assert result.posting.parked == 1 and ap(si).docs == {}
    [failure] = si.open_failures()
    assert "Visma refused the supplier invoice" in str(failure["reason"]) and text in str(failure["reason"])


async def test_a_reverse_charge_line_carries_its_vat_code_and_no_vat_of_ours(si: World) -> None:
    """Reverse charge is Visma's to compute: the 86 line goes with its VAT code only; the tax detail
    and the control total are the domestic line's VAT alone, and the supplier is owed 12,500.00."""
    si.put_invoices(_csv(INVOICE_COLUMNS, reverse_charge_rows("R1")))
    result = await si.cycle()
    assert result.status == "ok" and result.posting.posted == 1, result.errors
    [voucher] = ap(si).created
    assert [(ln.account, ln.amount, ln.vat_code) for ln in voucher.lines] == [
        ("6790", Decimal("10000.00"), "86"),
        ("6800", Decimal("2000.00"), "1"),
    ]
    assert voucher.vat == (VatDetail("1", Decimal("2000.00"), Decimal("500.00")),)
    assert voucher.total == Decimal("12500.00")
    body = supplier_invoice_dto(voucher)
    assert [ln["vatCodeId"] for ln in body["invoiceLines"]] == [{"value": "86"}, {"value": "1"}]  # type: ignore[attr-defined]
    assert body["vatAmount"] == {"value": Decimal("500.00")}
    assert body["taxDetailLines"] == [
        {
            "taxId": {"value": "1"},
            "taxableAmount": {"value": Decimal("2000.00")},
            "vatAmount": {"value": Decimal("500.00")},
        }
    ]


async def test_a_reverse_charge_line_the_supplier_charged_vat_on_parks(si: World) -> None:
    """86 is reverse charge (mapping.reverse_charge): VAT charged on it contradicts the code."""
    cfg = si.rt.config
    reverse = replace(cfg.mapping, reverse_charge={"86": ("2720", "2740")})
    si.rt = replace(si.rt, config=replace(cfg, mapping=reverse))
    header = {"taxAmount": "3000.00", "totalAmount": "15000.00"}
    abroad, domestic = reverse_charge_rows("R2")
    rows = [{**abroad, **header, "lineTaxAmount": "2500.00"}, {**domestic, **header}]
    si.put_invoices(_csv(INVOICE_COLUMNS, rows))
    await si.cycle()
    [failure] = si.open_failures()
    assert failure["code"] == "reverse_charge_with_vat" and "tax code 86" in str(failure["reason"])
    assert ap(si).created == []


async def test_a_reverse_charge_credit_note_mirrors_the_invoice(si: World) -> None:
    """The same services credited (Stampli's amounts negative): a DebitAdj with positive lines, the
    86 line with its code alone, the domestic VAT as the only tax detail; 12,500.00 to be used."""
    signed = ("subtotalAmount", "taxAmount", "totalAmount", "lineNetAmount", "lineTaxAmount")
    rows = [
        {**r, "documentType": "CREDIT_NOTE", **{k: f"-{r[k]}" for k in signed if r[k] != "0.00"}}
        for r in reverse_charge_rows("C1")
    ]
    si.put_invoices(_csv(INVOICE_COLUMNS, rows))
    result = await si.cycle()
    assert result.status == "ok" and result.posting.posted == 1, result.errors
    [voucher] = ap(si).created
    assert voucher.document_type == "DebitAdj"
    assert [(ln.amount, ln.vat_code) for ln in voucher.lines] == [
        (Decimal("10000.00"), "86"),
        (Decimal("2000.00"), "1"),
    ]
    assert voucher.vat == (VatDetail("1", Decimal("2000.00"), Decimal("500.00")),)
    assert voucher.total == Decimal("12500.00")


def _voucher(supplier: str, reference: str, day: date) -> SupplierInvoiceVoucher:
    return SupplierInvoiceVoucher(
        supplier=supplier,
        supplier_reference=reference,
        document_type="Invoice",
        document_date=day,
        financial_period=f"{day:%Y%m}",
        currency="NOK",
        lines=(SupplierInvoiceLine("6800", Decimal("100.00"), "x"),),
    )


async def test_several_suppliers_are_read_in_one_listing_each_within_its_own_window() -> None:
    fake = FakeSupplierLedger()
    near = fake.add(_voucher("A", "F-1", date(2025, 3, 5)), description="EHF")
    # A's reference again, dated inside the listing's span (B's documents are in June) but far from
    # A's own documents: not A's candidate, exactly as A's own read would not see it.
    far = fake.add(_voucher("A", "F-1", date(2025, 5, 20)), description="EHF")
    b_doc = fake.add(_voucher("B", "G-9", date(2025, 6, 30)), description="EHF")
    fake.add(_voucher("C", "H-1", date(2025, 6, 1)), description="not asked about")
    pending = [_voucher("A", "F-1", date(2025, 3, 4)), _voucher("B", "G-9", date(2025, 7, 1))]
    found = await read_suppliers(fake, pending)
    assert fake.calls == ["existing of A,B"]  # one listing, not one read per supplier
    assert found == {"A": [near], "B": [b_doc]}
    assert far not in found["A"]
    one_by_one = FakeSupplierLedger(docs=fake.docs, dates=fake.dates)
    assert {
        s: await one_by_one.existing(s, date_from=a, date_to=b) for s, (a, b) in _windows(pending).items()
    } == found


async def test_a_listing_longer_than_one_read_per_supplier_falls_back_to_reading_each() -> None:
    fake = FakeSupplierLedger(listing_page_size=2)
    for n in range(6):  # 6 documents in the span: 4 reads for the listing, 2 suppliers: 2 reads
        fake.add(_voucher("A" if n % 2 else "B", f"X-{n}", date(2025, 3, 1 + n)), description="EHF")
    pending = [_voucher("A", "X-1", date(2025, 3, 2)), _voucher("B", "X-0", date(2025, 3, 1))]
    found = await read_suppliers(fake, pending)
    assert fake.calls == ["existing of A,B", "existing A", "existing B"]
    assert [b.supplier_reference for b in found["A"]] == ["X-1", "X-3", "X-5"]
    assert [b.supplier_reference for b in found["B"]] == ["X-0", "X-2", "X-4"]


async def test_a_listing_that_fails_concludes_nothing() -> None:
    fake = FakeSupplierLedger(listing_failures=[RetriableDestinationError("503")])
    pending = [_voucher("A", "F-1", date(2025, 3, 4)), _voucher("B", "G-9", date(2025, 3, 5))]
    with pytest.raises(LookupIncomplete):
        await read_suppliers(fake, pending)


async def test_a_cycle_over_several_suppliers_reads_them_in_one_listing(si: World, dataset: Dataset) -> None:
    si.put_invoices(dataset.invoices_text(dataset.invoice_ids))
    assert len({i.vendor_id for i in dataset.export.invoices}) > 1
    result = await si.cycle()
    assert result.status == "ok", result.errors
    reads = [c for c in ap(si).calls if c.startswith("existing")]
    assert len(reads) == 1 and reads[0].startswith("existing of "), reads


def _windows(vouchers: list[SupplierInvoiceVoucher]) -> dict[str, tuple[date, date]]:
    out: dict[str, tuple[date, date]] = {}
    for v in vouchers:
        a, b = out.get(v.supplier, (v.document_date, v.document_date))
        out[v.supplier] = (min(a, v.document_date), max(b, v.document_date))
    return {s: (a - DATE_MARGIN, b + DATE_MARGIN) for s, (a, b) in out.items()}
