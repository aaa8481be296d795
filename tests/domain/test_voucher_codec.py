"""The ledger's voucher form round-trips exactly, Decimals as text, for both voucher types."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from ml_connector.domain.journal import Segment, Voucher, VoucherLine
from ml_connector.domain.supplier_invoice import SupplierInvoiceLine, SupplierInvoiceVoucher
from ml_connector.domain.voucher_codec import decode_voucher, encode_voucher, is_encoded

JOURNAL = Voucher(
    transaction_date=date(2025, 3, 14),
    financial_period="202503",
    currency="EUR",
    description="Acme invoice 1",
    reference="ST-1",
    exchange_rate=Decimal("11.4512"),
    lines=(
        VoucherLine("6540", Decimal("100.10"), Decimal(0), "ST-1", "cost", (Segment(1, "0200"),)),
        VoucherLine("2460", Decimal(0), Decimal("100.10"), "ST-1", "total"),
    ),
)
SUPPLIER_INVOICE = SupplierInvoiceVoucher(
    supplier="10023",
    supplier_reference="INV-77",
    document_type="DebitAdj",
    document_date=date(2025, 3, 14),
    financial_period="202503",
    currency="NOK",
    due_date=date(2025, 4, 13),
    payment_reference="1234567890123",
    note="https://app.stampli.com/x",
    lines=(SupplierInvoiceLine("6540", Decimal("0.10"), "cost", (Segment(1, "0200"),), "1"),),
)


@pytest.mark.parametrize("voucher", [JOURNAL, SUPPLIER_INVOICE], ids=["journal", "supplier_invoice"])
def test_round_trip_through_json_is_exact(voucher: Voucher | SupplierInvoiceVoucher) -> None:
    stored = json.loads(json.dumps(encode_voucher(voucher)))  # what the ledger's JSON column gives back
    assert is_encoded(stored)
    assert decode_voucher(stored) == voucher


def test_amounts_are_exact_text_not_numbers() -> None:
    stored = encode_voucher(JOURNAL)
    assert stored["lines"][0]["debit"] == "100.10" and stored["exchange_rate"] == "11.4512"
    assert encode_voucher(SUPPLIER_INVOICE)["lines"][0]["amount"] == "0.10"


def test_an_older_ledgers_wire_body_is_not_taken_for_a_voucher() -> None:
    assert not is_encoded({"journalTransactionLines": []}) and not is_encoded(None)
    with pytest.raises(ValueError, match="not a stored voucher"):
        decode_voucher({"journalTransactionLines": []})
