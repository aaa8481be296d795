"""What a foreign payment learns from the ledger about the invoice it pays (pipeline/settlement.py),
on a real SQLite ledger: the invoice's booked rate, and what earlier payments settled, in ledger order,
leaving out payments that are parked, skipped or voided, and payments that came later."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import (
    DocumentType,
    Payment,
    PaymentApplication,
    Provenance,
    invoice_json,
    payment_json,
)
from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.store import DocStatus, Ledger
from ml_connector.pipeline.settlement import bookings_for
from tests.posting.test_accounting import invoice

D = Decimal
FX = MappingConfig(credit_account="2460", exchange_gain_account="8060", exchange_loss_account="8160")
CONN = "acme"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


def _pay(pid: str, applied: str, *, currency: str = "EUR", status: str = "PAID") -> Payment:
    return Payment(
        stampli_company_id="C100234",
        stampli_payment_id=pid,
        payment_date=date(2025, 3, 20),
        payment_method="BANK_TRANSFER",
        payment_status=status,
        payment_currency=currency,
        payment_amount=D(applied),
        vendor_id="10023",
        exported_at=None,
        applications=(PaymentApplication("900", "F-900", DocumentType.INVOICE, "EUR", D(applied)),),
        provenance=Provenance("/p.csv", "0" * 64),
        exchange_rate=D("11.00"),
    )


def _insert(ledger: Ledger, key: str, kind: str, source: dict[str, object]) -> StoredDocument:
    doc_id = ledger.insert_document(
        {
            "connection": CONN,
            "doc_key": key,
            "kind": kind,
            "content_hash": key,
            "reference": key,
            "source": source,
        },
        status=DocStatus.PENDING,
        actor="test",
        reason="read",
    )
    assert doc_id is not None
    return ledger.document_by_id(doc_id)


def test_the_booked_rate_and_what_earlier_live_payments_settled(ledger: Ledger) -> None:
    _insert(ledger, "INV:900", "invoice", invoice_json(invoice(["100.00"], "100.00", rate="11.50")))
    _insert(ledger, "PAY:P1", "payment", payment_json(_pay("P1", "10.00")))
    parked = _insert(ledger, "PAY:P2", "payment", payment_json(_pay("P2", "20.00")))
    ledger.park(parked.id, "unpostable", category="mapping", code="x", reason="parked", actor="test")
    _insert(ledger, "PAY:P3", "payment", payment_json(_pay("P3", "30.00")))
    _insert(ledger, "PAYV:P3", "payment_void", payment_json(_pay("P3", "30.00", status="VOIDED")))
    _insert(ledger, "PAY:P4", "payment", payment_json(_pay("P4", "5.00")))
    this = _insert(ledger, "PAY:P5", "payment", payment_json(_pay("P5", "40.00")))
    _insert(ledger, "PAY:P6", "payment", payment_json(_pay("P6", "15.00")))  # later: not before P5

    bookings = bookings_for(ledger, CONN, this, FX, "NOK")
    assert bookings is not None
    [b] = bookings.values()
    assert (b.currency, b.total, b.rate) == ("EUR", D("100.00"), D("11.50"))
    assert b.settled_before == D("15.00")  # P1 + P4: P2 is parked, P3 voided, P6 later


def test_no_facts_when_the_payment_is_booked_without_them(ledger: Ledger) -> None:
    _insert(ledger, "INV:900", "invoice", invoice_json(invoice(["100.00"], "100.00", rate=None)))
    one = _insert(ledger, "PAY:P1", "payment", payment_json(_pay("P1", "100.00")))
    assert (
        bookings_for(
            ledger, CONN, one, replace(FX, exchange_gain_account=None, exchange_loss_account=None), "NOK"
        )
        is None
    )
    assert bookings_for(ledger, CONN, one, FX, None) is None  # company currency not known
    # paid in full at once: no scan for earlier payments; the rate Visma chose is not known
    [b] = (bookings_for(ledger, CONN, one, FX, "NOK") or {}).values()
    assert b.rate is None and b.settled_before == 0
