"""A journal voucher: what ml-connector asks Visma to book for one document. Pure data.

Amounts are Decimal in the document currency; each line has either a debit or a credit.
The Visma adapter turns a ``Voucher`` into the ``JournalTransactionUpdateDto`` wire form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: int
    value: str


@dataclass(frozen=True, slots=True)
class VoucherLine:
    account: str
    debit: Decimal
    credit: Decimal
    reference: str  # our idempotency reference; Visma stores it as the line's referenceNumber
    description: str
    subaccount: tuple[Segment, ...] = ()
    vat_code: str | None = None

    def __post_init__(self) -> None:
        if self.debit < 0 or self.credit < 0:
            raise ValueError("voucher line amounts are not negative; swap debit and credit instead")
        if self.debit and self.credit:
            raise ValueError("a voucher line has a debit or a credit, not both")


@dataclass(frozen=True, slots=True)
class Voucher:
    transaction_date: date
    financial_period: str  # YYYYMM
    currency: str
    description: str
    reference: str
    lines: tuple[VoucherLine, ...]
    exchange_rate: Decimal | None = None
    branch: str | None = None
    ledger: str | None = None

    @property
    def debit_total(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal(0))

    @property
    def credit_total(self) -> Decimal:
        return sum((line.credit for line in self.lines), Decimal(0))

    @property
    def balanced(self) -> bool:
        return self.debit_total == self.credit_total
