"""Journal rules: how a Stampli invoice or payment becomes one balanced Visma voucher. Pure.

Invoice: debit each line's expense account (with its SUBACCOUNT), debit input VAT per tax code,
credit the configured credit account for the total. A credit note (negative amounts) mirrors it:
each amount lands on the other side. Payment: debit the credit account per application (a
credit-note application nets), credit the mapped bank account. A voided payment that was posted
gets the same voucher with the sides swapped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import Invoice, InvoiceLine, Payment, invoice_key
from ml_connector.domain.journal import Segment, Voucher, VoucherLine
from ml_connector.domain.problems import Category, Problem, Unpostable

# Visma's referenceNumber is a short string; keep ours well inside any plausible limit.
MAX_REFERENCE = 30


def _ref(prefix: str, ident: str) -> str:
    ref = f"{prefix}-{ident}"
    if len(ref) <= MAX_REFERENCE:
        return ref
    return f"{prefix}-{hashlib.sha256(ident.encode()).hexdigest()[:20]}"


def invoice_reference(inv: Invoice) -> str:
    return _ref("ST", inv.stampli_invoice_id or invoice_key(inv))


def payment_reference(pay: Payment) -> str:
    return _ref("SP", pay.stampli_payment_id)


def void_reference(pay: Payment) -> str:
    return _ref("SPV", pay.stampli_payment_id)


def period_of(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def _side(amount: Decimal) -> tuple[Decimal, Decimal]:
    """(debit, credit) for a signed amount: positive debits, negative credits."""
    return (amount, Decimal(0)) if amount >= 0 else (Decimal(0), -amount)


def _line(mapping: MappingConfig, account: str, amount: Decimal, ref: str, description: str) -> VoucherLine:
    """A line without a cost center of its own (VAT, clearing, bank): the default segment values."""
    debit, credit = _side(amount)
    return VoucherLine(
        account=account,
        debit=debit,
        credit=credit,
        reference=ref,
        description=description[:255],
        subaccount=default_segments(mapping),
    )


def default_segments(mapping: MappingConfig) -> tuple[Segment, ...]:
    return tuple(Segment(sid, value) for sid, value in sorted(mapping.default_segments.items()))


def line_segments(
    mapping: MappingConfig, cost_center: str | None, project: str | None
) -> tuple[Segment, ...]:
    values = dict(mapping.default_segments)
    if cost_center:
        values[mapping.cost_center_segment_id] = mapping.cost_center_value(cost_center)
    if project and mapping.project_segment_id is not None:
        if project not in mapping.project_map:
            raise Unpostable(
                Problem(
                    Category.MAPPING,
                    "project_unmapped",
                    f"Stampli project {project!r} has no SUBACCOUNT value in mapping.project_map; "
                    "add it to the configuration, then replay",
                )
            )
        values[mapping.project_segment_id] = mapping.project_map[project]
    return tuple(Segment(sid, value) for sid, value in sorted(values.items()))


def require_gl_account(line: InvoiceLine) -> str:
    """The line's GL account; a line without one cannot be posted to any target (Unpostable)."""
    if not line.gl_account:
        raise Unpostable(
            Problem(
                Category.MAPPING,
                "line_without_gl_account",
                f"line {line.line_number} is an {line.line_type} line without a GL account; "
                "code it to a GL account in Stampli and export it again",
            )
        )
    return line.gl_account


def cost_center_of(line: object, field: str) -> str | None:
    """A line's cost-center value from the configured Stampli field (``mapping.cost_center_field``)."""
    return _cost_center(line, field)


def _cost_center(line: object, field: str) -> str | None:
    attr = {"costCenter": "cost_center", "cost_center": "cost_center", "class": "class_"}.get(field, field)
    value = getattr(line, attr, None)
    return value if isinstance(value, str) and value.strip() else None


def invoice_voucher(inv: Invoice, mapping: MappingConfig, *, period: str, transaction_date: date) -> Voucher:
    ref = invoice_reference(inv)
    kind = "credit note" if inv.document_type == "CREDIT_NOTE" else "invoice"
    title = f"{inv.vendor_name} {kind} {inv.invoice_number}"
    lines: list[VoucherLine] = []
    vat: dict[str, Decimal] = defaultdict(Decimal)
    for line in inv.lines:
        gl_account = require_gl_account(line)
        segments = line_segments(mapping, _cost_center(line, mapping.cost_center_field), line.project)
        debit, credit = _side(line.line_net_amount)
        text = line.line_description or ""
        lines.append(
            VoucherLine(
                account=gl_account,
                debit=debit,
                credit=credit,
                reference=ref,
                description=f"{title}: {text}".strip().rstrip(":")[:255],
                subaccount=segments,
                # No vatCodeId: VAT is booked on its own lines from mapping.tax_accounts, and a
                # vatCodeId would let Visma create a second VAT transaction for the same amount.
                vat_code=None,
            )
        )
        if line.line_tax_amount:
            vat[line.tax_code or ""] += line.line_tax_amount
    for code, amount in sorted(vat.items()):
        if not amount:
            continue
        account = mapping.tax_accounts.get(code)
        if account is None:
            raise Unpostable(
                Problem(
                    Category.MAPPING,
                    "tax_code_unmapped",
                    f"tax code {code or '(empty)'} has no input VAT account in mapping.tax_accounts; "
                    "add it, then replay",
                )
            )
        lines.append(_line(mapping, account, amount, ref, f"{title}: input VAT code {code}"))
    # The credit side: the total, on the configured clearing/AP account (mirrored for credit notes).
    lines.append(_line(mapping, mapping.credit_account, -inv.total_amount, ref, title))
    return Voucher(
        transaction_date=transaction_date,
        financial_period=period,
        currency=inv.currency,
        description=f"Stampli {title}"[:255],
        reference=ref,
        lines=tuple(lines),
        exchange_rate=inv.exchange_rate,
    )


def bank_account_for(pay: Payment, mapping: MappingConfig) -> str:
    if pay.bank_account and pay.bank_account in mapping.bank_accounts:
        return mapping.bank_accounts[pay.bank_account]
    if mapping.default_bank_account:
        return mapping.default_bank_account
    raise Unpostable(
        Problem(
            Category.MAPPING,
            "bank_account_unmapped",
            f"Stampli bank account {pay.bank_account or '(empty)'} has no cash GL account in "
            "mapping.bank_accounts; add it, then replay",
        )
    )


def payment_voucher(pay: Payment, mapping: MappingConfig, *, period: str, transaction_date: date) -> Voucher:
    ref = payment_reference(pay)
    number = pay.payment_number or pay.stampli_payment_id
    vendor = pay.vendor_name or pay.vendor_id
    for app in pay.applications:
        if app.invoice_currency != pay.payment_currency:
            raise Unpostable(
                Problem(
                    Category.MAPPING,
                    "cross_currency_payment",
                    f"payment {number} in {pay.payment_currency} applies to invoice {app.invoice_number} in "
                    f"{app.invoice_currency}; cross-currency payments must be booked by hand in Visma",
                )
            )
        if app.discount_amount:
            raise Unpostable(
                Problem(
                    Category.MAPPING,
                    "discount_unmapped",
                    f"payment {number} takes a discount of {app.discount_amount} on invoice "
                    f"{app.invoice_number}; discounts have no account mapping yet and must be booked by hand",
                )
            )
    bank = bank_account_for(pay, mapping)
    lines: list[VoucherLine] = []
    for app in pay.applications:
        text = f"{vendor} payment {number}: {app.document_type.lower()} {app.invoice_number}"
        lines.append(_line(mapping, mapping.credit_account, app.applied_amount, ref, text))
    text = f"{vendor} payment {number} ({pay.payment_method})"
    lines.append(_line(mapping, bank, -pay.payment_amount, ref, text))
    return Voucher(
        transaction_date=transaction_date,
        financial_period=period,
        currency=pay.payment_currency,
        description=f"Stampli payment {number} to {vendor}"[:255],
        reference=ref,
        lines=tuple(lines),
        exchange_rate=pay.exchange_rate,
    )


def reversal_voucher(
    original: Voucher, *, reference: str, period: str, transaction_date: date, why: str
) -> Voucher:
    """The same voucher with every debit and credit swapped: cancels the original in the ledger."""
    lines = tuple(
        replace(
            line,
            debit=line.credit,
            credit=line.debit,
            reference=reference,
            description=f"VOID {line.description}"[:255],
        )
        for line in original.lines
    )
    return replace(
        original,
        lines=lines,
        reference=reference,
        financial_period=period,
        transaction_date=transaction_date,
        description=f"Reversal: {why}"[:255],
    )
