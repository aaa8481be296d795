"""What a payment needs to know of an invoice it settles: how that invoice was booked. Pure data.

A payment voucher in journal mode clears the invoice's amount from the clearing account in the
company currency at the rate the *invoice* was booked at; the difference to what left the bank (at
the payment's rate) is the realised exchange difference. ``pipeline/settlement.py`` reads these
facts from the ledger; ``pipeline/journal.py`` books with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class InvoiceBooking:
    """One invoice as the ledger holds it, seen from a payment that applies to it."""

    stampli_invoice_id: str
    currency: str
    total: Decimal  # the invoice's total in its currency (negative for a credit note)
    rate: Decimal | None  # company-currency units per invoice-currency unit it was booked at; None: unknown
    # What payments posted before this one applied to the invoice (applied + discount, invoice
    # currency). The company-currency amount a payment clears is the difference of the cumulative
    # amounts converted, so the amounts cleared by several payments add up to the invoice's own.
    settled_before: Decimal = Decimal(0)
    waiting: bool = False  # not sent to the destination yet: its rate may still be recorded
