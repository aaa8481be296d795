"""A supplier-ledger voucher: one approved Stampli invoice as a Visma supplier invoice. Pure data.

Separate from the journal ``Voucher`` because a supplier invoice names what a journal does not: the
supplier, the supplier's own invoice number, a due date or credit terms, a payment reference and a
VAT code per line; its lines carry one cost each (the AP control account is Visma's side).
A credit note is a ``DebitAdj`` (it lowers what we owe the supplier). Amounts are Decimal in the
document currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from ml_connector.domain.journal import Segment

DocumentType = Literal["Invoice", "DebitAdj"]
# AP statuses after a release: the document is in the supplier ledger and can no longer be released.
RELEASED_STATUSES = frozenset({"Open", "Closed", "Printed", "Reserved", "Prebooked"})


@dataclass(frozen=True, slots=True)
class SupplierInvoiceLine:
    account: str
    amount: Decimal  # the line's cost in the document currency, before VAT
    description: str
    subaccount: tuple[Segment, ...] = ()
    vat_code: str | None = None


@dataclass(frozen=True, slots=True)
class VatDetail:
    """The VAT of one Visma VAT code as the supplier's document states it (Stampli's tax amounts):
    sent as a tax detail line so that Visma books exactly this VAT instead of recomputing it."""

    vat_code: str
    taxable: Decimal  # the lines' cost with this code
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SupplierInvoiceVoucher:
    supplier: str  # Visma supplier number
    supplier_reference: str  # the supplier's invoice number; our idempotency key in this ledger
    document_type: DocumentType
    document_date: date
    financial_period: str  # YYYYMM
    currency: str
    lines: tuple[SupplierInvoiceLine, ...]
    due_date: date | None = None
    credit_terms: str | None = None
    exchange_rate: Decimal | None = None
    payment_reference: str | None = None
    note: str | None = None
    vat: tuple[VatDetail, ...] = ()
    # Our reference first (``ST-…``, as on a journal line): how a fresh ledger recognises its own
    # document among the supplier's documents in Visma (another channel's has no such description).
    description: str | None = None
    # "Approved for payment" in Visma (``paySelected``): set when Visma pays the suppliers
    # (``payments.source = "visma"``), so that the invoice is in Visma's next payment proposal.
    pay_selected: bool = False

    @property
    def net_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def vat_total(self) -> Decimal:
        return sum((d.amount for d in self.vat), Decimal(0))

    @property
    def total(self) -> Decimal:
        """What the supplier is owed: the lines' cost plus the VAT (positive for a DebitAdj too)."""
        return self.net_total + self.vat_total
