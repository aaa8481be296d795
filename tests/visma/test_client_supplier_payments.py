"""The client's supplier-payment calls, the payment port and currency rates against the Visma
simulator over real HTTP on loopback: create, read, list and look up, release Done/Failed/queued,
void by a VoidPayment, "approved for payment" on an invoice; the documents' balances follow.

Every exchange is validated against tests/support/visma_contract.yml by the ``visma_sim`` fixture;
each test also asserts that no violation was recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ml_connector import retry
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.ports import SupplierPaymentTarget, VismaPorts
from ml_connector.adapters.visma.supplier_payments import supplier_payment_dto
from ml_connector.domain.supplier_invoice import DocumentType
from ml_connector.domain.supplier_payment import AppliedType, PaymentApplication, SupplierPaymentVoucher
from ml_connector.errors import AmbiguousDestinationError, RejectedByDestinationError
from tests.support.visma_sim import VismaSim
from tests.visma.test_client_sim import assert_contract_clean, client_for
from tests.visma.test_client_supplier_invoices import invoice
from tests.visma.test_client_support import FakeVisma, ambiguous_create_answers, fast_retries, json_response


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def payment(
    amount: str, *applied: tuple[AppliedType, str, str], reference: str = "PAY-1", day: int = 20
) -> SupplierPaymentVoucher:
    """A payment of supplier 10023 in NOK from bank account 1920; applied: (type, number, amount)."""
    return SupplierPaymentVoucher(
        supplier="10023",
        reference=reference,
        payment_date=date(2025, 3, day),
        currency="NOK",
        amount=Decimal(amount),
        applications=tuple(PaymentApplication(kind, number, Decimal(paid)) for kind, number, paid in applied),
        cash_account="1920",
        description="Stampli payment",
    )


async def released_invoice(c: VismaClient, reference: str, amount: str, *, credit: bool = False) -> str:
    """A released document owed exactly ``amount``: its line has no VAT code (Visma adds VAT for one)."""
    kind: DocumentType = "DebitAdj" if credit else "Invoice"
    voucher = invoice(reference, amount, document_type=kind)
    voucher = replace(voucher, lines=tuple(replace(ln, vat_code=None) for ln in voucher.lines))
    created = await c.create_supplier_invoice(voucher)
    await c.release_supplier_invoice(kind, created.number, created.etag)
    return created.number


def documents(sim: VismaSim) -> dict[str, dict[str, Any]]:
    return {d["supplierReference"]: d for d in sim.supplier_ledger()["documents"]}


def test_request_body_has_exact_decimals_and_the_spec_field_names() -> None:
    voucher = payment("750.10", ("Invoice", "000001", "1000.10"), ("DebitAdj", "000002", "250.00"))
    dto = supplier_payment_dto(voucher)
    assert dto["type"] == {"value": "Payment"} and dto["supplier"] == {"value": "10023"}
    assert dto["applicationDate"] == {"value": "2025-03-20T00:00:00"} and dto["paymentRef"] == {
        "value": "PAY-1"
    }
    assert dto["paymentAmount"] == {"value": Decimal("750.10")} and dto["cashAccount"] == {"value": "1920"}
    assert dto["paymentLines"] == [
        {
            "operation": "Insert",
            "documentType": {"value": "Invoice"},
            "refNbr": {"value": "000001"},
            "amountPaid": {"value": Decimal("1000.10")},
        },
        {
            "operation": "Insert",
            "documentType": {"value": "DebitAdj"},
            "refNbr": {"value": "000002"},
            "amountPaid": {"value": Decimal("250.00")},
        },
    ]


@pytest.mark.parametrize(
    ("voucher", "message"),
    [
        (payment("100.00"), "would post unapplied"),
        (payment("100.00", ("Invoice", "000001", "90.00")), "net to 90.00, not its amount 100.00"),
        (payment("0", ("Invoice", "000001", "0")), "must be positive"),
    ],
)
def test_a_payment_that_would_not_be_fully_applied_is_never_sent(
    voucher: SupplierPaymentVoucher, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        supplier_payment_dto(voucher)


async def test_a_payment_settles_its_invoice_and_partial_ones_leave_the_rest(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        first = await c.create_supplier_payment(payment("400.00", ("Invoice", inv, "400.00")))
        assert first.key == "Payment/000001" and first.location.endswith("/v1/supplierPayment/000001")
        await c.release_supplier_payment("Payment", first.number, first.etag)
        assert documents(visma_sim)["F-1"]["balance"] == Decimal("600.00")
        assert documents(visma_sim)["F-1"]["status"] == "Open"
        second = await c.create_supplier_payment(
            payment("600.00", ("Invoice", inv, "600.00"), reference="PAY-2")
        )
        etag = await c.release_supplier_payment("Payment", second.number, second.etag)
        read = await c.get_supplier_payment("Payment", second.number)
    assert read.status == "Closed" and read.released and read.etag == etag and read.payment_ref == "PAY-2"
    assert read.amount == Decimal("600.00") and read.lines[0].document_number == inv
    assert read.last_modified is not None and read.last_modified.tzinfo is not None
    doc = documents(visma_sim)["F-1"]
    assert doc["status"] == "Closed" and doc["balance"] == Decimal(0)
    assert_contract_clean(visma_sim)


async def test_a_credit_note_nets_in_the_payment(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        note = await released_invoice(c, "CN-1", "250.00", credit=True)
        created = await c.create_supplier_payment(
            payment("750.00", ("Invoice", inv, "1000.00"), ("DebitAdj", note, "250.00"))
        )
        await c.release_supplier_payment("Payment", created.number, created.etag)
    docs = documents(visma_sim)
    assert (docs["F-1"]["status"], docs["CN-1"]["status"]) == ("Closed", "Closed")
    assert docs["F-1"]["balance"] == docs["CN-1"]["balance"] == Decimal(0)
    assert_contract_clean(visma_sim)


async def test_an_application_to_a_document_not_in_visma_is_refused_with_vismas_text(
    visma_sim: VismaSim,
) -> None:
    async with client_for(visma_sim) as c:
        with pytest.raises(RejectedByDestinationError) as caught:
            await c.create_supplier_payment(payment("10.00", ("Invoice", "000404", "10.00")))
    assert caught.value.status == 400 and "AdjdRefNbr '000404' cannot be found" in str(caught.value)
    assert_contract_clean(visma_sim)


async def test_the_lookup_finds_our_payment_by_supplier_date_and_reference(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim, page_size=2) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        for i, day in enumerate((19, 20, 20, 21)):
            await c.create_supplier_payment(
                payment("10.00", ("Invoice", inv, "10.00"), reference=f"PAY-{i}", day=day)
            )
        found = await c.find_supplier_payments("10023", date(2025, 3, 20), "PAY-2")
        other_day = await c.find_supplier_payments("10023", date(2025, 3, 21), "PAY-2")
        window = await c.supplier_payments("10023", date_from=date(2025, 3, 20), date_to=date(2025, 3, 20))
    assert [(r.number, r.payment_ref) for r in found] == [("000003", "PAY-2")]
    assert other_day == []
    assert [r.payment_ref for r in window] == ["PAY-1", "PAY-2"]
    assert_contract_clean(visma_sim)


async def test_void_gives_the_invoice_back_and_a_second_void_is_refused(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        created = await c.create_supplier_payment(payment("1000.00", ("Invoice", inv, "1000.00")))
        await c.release_supplier_payment("Payment", created.number, created.etag)
        assert documents(visma_sim)["F-1"]["status"] == "Closed"
        void = await c.void_supplier_payment(created.number)
        assert void.key == f"VoidPayment/{created.number}"
        await c.release_supplier_payment("VoidPayment", void.number, void.etag)
        original = await c.get_supplier_payment("Payment", created.number)
        voided = await c.get_supplier_payment("VoidPayment", created.number)
        with pytest.raises(RejectedByDestinationError, match="already voided"):
            await c.void_supplier_payment(created.number)
    assert original.status == "Voided" and voided.status == "Closed" and voided.amount == Decimal("-1000.00")
    doc = documents(visma_sim)["F-1"]
    assert doc["status"] == "Open" and doc["balance"] == Decimal("1000.00")
    assert_contract_clean(visma_sim)


async def test_release_failed_is_a_refusal_and_queued_is_polled(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        created = await c.create_supplier_payment(payment("100.00", ("Invoice", inv, "100.00")))
        visma_sim.set_supplier_ledger(release="failed")
        with pytest.raises(RejectedByDestinationError, match="release=failed"):
            await c.release_supplier_payment("Payment", created.number, created.etag)
        visma_sim.set_supplier_ledger(release="queued")
        etag = await c.release_supplier_payment("Payment", created.number, created.etag)
        assert c.counters["releases_queued"] == 1
        read = await c.get_supplier_payment("Payment", created.number)
    assert read.released and etag == read.etag
    assert documents(visma_sim)["F-1"]["balance"] == Decimal("900.00")
    assert_contract_clean(visma_sim)


async def test_pay_selected_marks_the_invoice_approved_for_payment(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        created = await c.create_supplier_invoice(invoice("F-7"))
        assert (await c.get_supplier_invoice("Invoice", created.number)).pay_selected is False
        etag = await c.set_pay_selected("Invoice", created.number, created.etag)
        with pytest.raises(RejectedByDestinationError) as stale:
            await c.set_pay_selected("Invoice", created.number, created.etag, selected=False)
        read = await c.get_supplier_invoice("Invoice", created.number)
    assert documents(visma_sim)["F-7"]["paySelected"] is True and etag == read.etag
    assert read.pay_selected is True
    assert stale.value.status == 412
    assert_contract_clean(visma_sim)


async def test_the_currency_rate_in_force_on_a_day(visma_sim: VismaSim) -> None:
    visma_sim.add_currency_rate("EUR", "11.7311", "2025-03-20")
    async with client_for(visma_sim) as c:
        before = await c.currency_rate("EUR", date(2025, 3, 19))
        on = await c.currency_rate("EUR", date(2025, 3, 20), to_currency="NOK", rate_type="SPOT")
        other_type = await c.currency_rate("EUR", date(2025, 3, 20), rate_type="BANK")
        too_early = await c.currency_rate("EUR", date(2019, 12, 31))
    assert (
        before is not None and before.rate == Decimal("11.6825") and before.multiplier == Decimal("11.6825")
    )
    assert on is not None and on.rate == Decimal("11.7311") and on.effective == date(2025, 3, 20)
    assert other_type is None and too_early is None
    assert_contract_clean(visma_sim)


async def test_the_ports_read_the_rate_of_the_day_from_the_simulator(visma_sim: VismaSim) -> None:
    visma_sim.add_currency_rate("EUR", "0.0850", "2025-03-20", rateType="BANK", multDiv="Divide")
    async with VismaPorts(client_for(visma_sim)) as ports:
        spot = await ports.currency_rate("EUR", date(2025, 3, 20), rate_type="SPOT")
        latest = await ports.currency_rate("EUR", date(2025, 3, 20), rate_type=None)
    assert spot == Decimal("11.6825") and latest == Decimal(1) / Decimal("0.0850")
    assert_contract_clean(visma_sim)


async def test_the_payment_target_speaks_type_slash_number(visma_sim: VismaSim) -> None:
    async with client_for(visma_sim) as c:
        target = SupplierPaymentTarget(c)
        inv = await released_invoice(c, "F-1", "1000.00")
        note = await released_invoice(c, "CN-1", "250.00", credit=True)
        voucher = payment("750.00", ("Invoice", inv, "1000.00"), ("DebitAdj", note, "250.00"))
        assert supplier_payment_dto(voucher)["paymentRef"] == {"value": "PAY-1"}
        created = await target.create(voucher)
        assert created.number == "Payment/000001"
        etag = await target.release(created.number, created.etag)
        booked = await target.get(created.number)
        existing = await target.existing("10023", date(2025, 3, 20), "PAY-1")
        void = await target.void(created.number)
        await target.release(void.number, void.etag)
        voided = await target.get(created.number)
        with pytest.raises(ValueError, match="only a Payment is voided"):
            await target.void(void.number)
    assert booked.status == "Closed" and booked.etag == etag and booked.references == {"PAY-1"}
    assert [(ln.account, ln.debit, ln.credit) for ln in booked.lines] == [
        (f"Invoice/{inv}", Decimal("1000.00"), Decimal(0)),
        (f"DebitAdj/{note}", Decimal(0), Decimal("250.00")),
    ]
    assert [b.number for b in existing] == ["Payment/000001"]
    assert void.number == "VoidPayment/000001" and voided.status == "Voided"
    assert_contract_clean(visma_sim)


@pytest.mark.parametrize("entry", ambiguous_create_answers())
async def test_create_and_void_with_unknown_outcome_are_ambiguous_and_never_resent(entry: object) -> None:
    for call in ("create", "void"):
        fake = FakeVisma()
        created = json_response(201, None, {"Location": "https://api.test/v1/supplierPayment/000001"})
        fake.route("POST", "/v1/supplierPayment", entry, created)  # type: ignore[arg-type]
        with fast_retries():
            async with fake.client() as c:
                with pytest.raises(AmbiguousDestinationError):
                    if call == "create":
                        await c.create_supplier_payment(payment("10.00", ("Invoice", "000001", "10.00")))
                    else:
                        await c.void_supplier_payment("000001")
        assert len(fake.api_requests("POST")) == 1, call


async def test_a_create_stored_but_unanswered_is_ambiguous_and_the_lookup_finds_it_once(
    visma_sim: VismaSim,
) -> None:
    async with client_for(visma_sim) as c:
        inv = await released_invoice(c, "F-1", "1000.00")
        visma_sim.set_faults("drop_next=1")
        with pytest.raises(AmbiguousDestinationError):
            await c.create_supplier_payment(
                payment("1000.00", ("Invoice", inv, "1000.00"), reference="PAY-9")
            )
        assert c.counters["POST /v1/supplierPayment"] == 1  # never resent on doubt
        found = await c.find_supplier_payments("10023", date(2025, 3, 20), "PAY-9")
    assert [(r.payment_ref, r.status, r.amount) for r in found] == [("PAY-9", "Balanced", Decimal("1000.00"))]
    assert len(visma_sim.supplier_payments()) == 1
    assert visma_sim.stats()["dropped_after_commit"] == 1
    assert_contract_clean(visma_sim)
