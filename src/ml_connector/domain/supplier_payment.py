"""A supplier payment: one Stampli payment as a Visma supplier payment. Pure data.

A payment pays supplier documents already in Visma's supplier ledger: each application names one by
its type and Visma's reference number and says how much of it this payment settles. An invoice's
application adds to what the payment pays; a credit note's (``DebitAdj``) takes its amount off
(netting), so ``applied`` is what leaves the bank. ``reference`` is ours (the Stampli payment id),
sent as the payment's ``paymentRef``: with the supplier and the date it finds the payment again.
Amounts are Decimal in the payment currency (the documents are in the same currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

AppliedType = Literal["Invoice", "DebitAdj"]


@dataclass(frozen=True, slots=True)
class PaymentApplication:
    document_type: AppliedType
    document_number: str  # Visma's reference number of the supplier document
    amount: Decimal  # paid (an Invoice) or used up (a DebitAdj); > 0
    cash_discount: Decimal = Decimal(0)  # an early-payment discount taken on this document

    @property
    def net(self) -> Decimal:
        """What this application adds to the money paid: a credit note's use lowers it."""
        return -self.amount if self.document_type == "DebitAdj" else self.amount


@dataclass(frozen=True, slots=True)
class SupplierPaymentVoucher:
    supplier: str  # Visma supplier number
    reference: str  # our idempotency key, sent as paymentRef
    payment_date: date
    currency: str
    amount: Decimal  # what leaves the bank; equals ``applied`` (a payment never posts unapplied)
    applications: tuple[PaymentApplication, ...]
    cash_account: str | None = None  # the bank account mapping; else the payment method decides
    payment_method: str | None = None
    description: str | None = None
    # YYYYMM of the payment date: the period the ledger records with the claim (Visma derives the
    # payment's own period from ``applicationDate``).
    financial_period: str = ""

    @property
    def applied(self) -> Decimal:
        return sum((a.net for a in self.applications), Decimal(0))


@dataclass(frozen=True, slots=True)
class SupplierPaymentVoid:
    """Undoes one of our released supplier payments. Visma has no void action: a ``VoidPayment``
    document with the original's number is created and released (visma-ap.md §6); it gives the
    payment's applications back, so the invoices it paid are open again."""

    payment: str  # the voided payment, ``Payment/000007``
    supplier: str  # Visma supplier number (the lookup before a resend reads the supplier's voids)
    reference: str  # ours (``SPV-…``): messages and the ledger; Visma copies the original's paymentRef
    void_date: date  # the application date of the VoidPayment (Stampli's void date)
    currency: str
    amount: Decimal  # the voided payment's amount (what goes back to the bank)
    financial_period: str = ""  # YYYYMM of ``void_date``

    @property
    def payment_number(self) -> str:
        return self.payment.partition("/")[2]

    @property
    def number(self) -> str:
        """Visma's key of the void: ``VoidPayment/{the original's number}``."""
        return f"VoidPayment/{self.payment_number}"
