"""A foreign invoice Stampli sends without a rate, when exchange differences are booked: it is sent
with Visma's rate of its posting date (``MasterDataReads.currency_rate``), the ledger records that
rate with the voucher, and its payment clears at it. A rate read that fails concludes nothing (both
wait for the next cycle); no rate in Visma parks the invoice with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.demo.generate import INVOICE_COLUMNS, PAYMENT_COLUMNS
from ml_connector.errors import RetriableDestinationError
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.settlement import recorded_rate
from tests.pipeline.conftest import _csv
from tests.pipeline.test_accounting_cycle import _invoice, _payment
from tests.pipeline_fast.conftest import NAME, World, config, world_on
from tests.support.fakes import FakeStampli, FakeVisma

D = Decimal


@pytest.fixture
def fx_world(tmp_path: Path, ledger_template: Path) -> Iterator[World]:
    base = config()
    mapping = replace(base.mapping, exchange_gain_account="8060", exchange_loss_account="8160")
    w = world_on(tmp_path, ledger_template, FakeVisma.demo(), FakeStampli(), replace(base, mapping=mapping))
    w.put_invoices(_csv(INVOICE_COLUMNS, [_invoice("A1", "EUR", "", "1000.00", "0.00", "", "6790")]))
    w.put_payments(_csv(PAYMENT_COLUMNS, [_payment("P1", "A1", "EUR", "11.20", "1000.00", "1000.00")]))
    yield w
    w.ledger.close()


async def test_an_invoice_without_a_rate_is_sent_with_vismas_and_its_payment_clears_at_it(
    fx_world: World,
) -> None:
    w = fx_world
    w.visma.rate_failures.append(RetriableDestinationError("503 (fake)"))
    first = await w.cycle()
    assert first.posting.retry_later == 2  # the rate read failed; the payment waits for its invoice
    assert w.status("INV:A1") == w.status("PAY:P1") == DocStatus.PENDING
    assert w.visma.created == [] and w.open_failures() == []

    w.visma.rates[("EUR", None)] = [(date(2025, 3, 1), D("11.40")), (date(2025, 3, 10), D("11.90"))]
    second = await w.cycle()
    assert second.posting.posted == 2, second.errors
    invoice, payment = w.visma.created
    assert invoice.currency == "EUR" and invoice.exchange_rate == D("11.40")  # in force on 2025-03-03
    assert "currency_rate EUR 2025-03-03 None" in w.visma.calls
    stored = w.ledger.document(NAME, "INV:A1")
    assert stored is not None and recorded_rate(stored) == D("11.40")  # recorded with the document
    assert payment.currency == "NOK"
    assert [(ln.account, ln.debit, ln.credit) for ln in payment.lines] == [
        ("2460", D("11400.00"), 0),
        ("8060", 0, D("200.00")),
        ("1921", 0, D("11200.00")),
    ]


async def test_no_rate_in_visma_parks_the_invoice_with_the_reason(fx_world: World) -> None:
    w = fx_world
    w.visma.rates[("EUR", None)] = [(date(2025, 3, 10), D("11.90"))]  # only after the invoice date
    await w.cycle()
    assert w.status("INV:A1") == DocStatus.PARKED
    [failure] = [f for f in w.open_failures() if f["code"] == "currency_rate_missing"]
    assert "no EUR rate on or before 2025-03-03" in str(failure["reason"])
    assert w.status("PAY:P1") == DocStatus.PARKED  # its invoice's rate is not known: booked by hand
    assert w.visma.created == []
