"""The amount of a document, the one number every view shows for it (CLI, dashboard, API, reconcile).

A document's amount is its own total as Stampli states it: an invoice's ``totalAmount`` (negative for
a credit note), a payment's ``paymentAmount`` (what left the bank, net of applied credit notes), and
for a voided payment the amount of the payment it reverses. The ledger stores it when the document is
read (``documents.amount``). A voucher carries the same number on its counter line, the line
``pipeline/journal.py`` builds last: the credit account for an invoice, the bank account for a payment
(in the voucher's currency: a payment written in the company currency, docs/accounting.md, carries
the company-currency amount there).
Summing a voucher's debits is *not* the document's amount: a payment that nets a credit note debits
the gross invoice amounts (31748.10) while paying 25510.60.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Posting:
    """One voucher line, as sent or as Visma holds it: account, debit and credit in the batch currency."""

    account: str
    debit: Decimal
    credit: Decimal


def stored_amount(value: object) -> str:
    """The amount a ledger document row shows (``documents.amount``: exact decimal text, or empty)."""
    return str(value) if value not in (None, "") else ""


def counter_account(lines: list[Posting]) -> str | None:
    """The account of the voucher's counter line (built last; see ``pipeline/journal.py``)."""
    return lines[-1].account if lines else None


def booked_amount(kind: str, lines: Iterable[Posting], account: str) -> Decimal:
    """The document's amount as a voucher books it: the net credit on the counter account. A
    reversal books the payment the other way, so its amount is the net debit there."""
    net = sum((ln.credit - ln.debit for ln in lines if ln.account == account), Decimal(0))
    return -net if kind == "payment_void" else net


def sent_postings(voucher: Mapping[str, Any] | None) -> list[Posting]:
    """The lines of a voucher as we sent it (the request body stored in the ledger)."""
    out: list[Posting] = []
    for line in (voucher or {}).get("journalTransactionLines", []):
        out.append(
            Posting(
                account=str(_value(line.get("accountNumber")) or ""),
                debit=_decimal(line.get("debitAmountInCurrency")),
                credit=_decimal(line.get("creditAmountInCurrency")),
            )
        )
    return out


def _value(field: object) -> object:
    return field.get("value") if isinstance(field, dict) else field


def _decimal(field: object) -> Decimal:
    value = _value(field)
    return Decimal(str(value)) if value is not None else Decimal(0)
