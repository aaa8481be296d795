"""Journal rules: how a Stampli invoice or payment becomes one balanced Visma voucher. Pure.

Invoice: debit each line's expense account (with its SUBACCOUNT), debit input VAT per tax code,
credit the configured credit account for the total. A reverse-charge tax code (``mapping.reverse_charge``)
books the self-assessed VAT at its configured rate twice: debit input VAT, credit output VAT. A credit
note (negative amounts) mirrors it: each amount lands on the other side. Payment: debit the credit
account per application (a credit-note application nets; a discount taken is debited there too and
credited to ``mapping.discount_account``), credit the mapped bank account. A payment that touches a
currency other than the company's is booked in the company currency: the clearing account at the
invoice's booked rate, the bank at the payment's, the realised difference on the exchange gain or
loss account. A voided payment that was posted gets the same voucher with the sides swapped.

The counter line (credit account for an invoice, bank for a payment) is always the last line
(``pipeline/amounts.py`` reads the document's amount there). A residue (Stampli's totals against its
lines, or the company-currency conversion) goes to ``mapping.rounding_account`` when it is at most
``mapping.rounding_max``, and parks the document when larger. Rules: docs/accounting.md.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import Invoice, InvoiceLine, Payment, PaymentApplication, invoice_key
from ml_connector.domain.journal import Segment, Voucher, VoucherLine
from ml_connector.domain.money import percent_of, to_company_currency
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.domain.settlement import InvoiceBooking

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


def _unmapped(code: str, reason: str) -> Unpostable:
    """A document the configuration cannot book yet: the mapping must name what is missing."""
    return Unpostable(Problem(Category.MAPPING, code, reason))


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
            raise _unmapped(
                "project_unmapped",
                f"Stampli project {project!r} has no SUBACCOUNT value in mapping.project_map; "
                "add it to the configuration, then replay",
            )
        values[mapping.project_segment_id] = mapping.project_map[project]
    return tuple(Segment(sid, value) for sid, value in sorted(values.items()))


def require_gl_account(line: InvoiceLine) -> str:
    """The line's GL account; a line without one cannot be posted to any target (Unpostable)."""
    if not line.gl_account:
        raise _unmapped(
            "line_without_gl_account",
            f"line {line.line_number} is an {line.line_type} line without a GL account; "
            "code it to a GL account in Stampli and export it again",
        )
    return line.gl_account


def cost_center_of(line: object, field: str) -> str | None:
    """A line's cost-center value from the configured Stampli field (``mapping.cost_center_field``)."""
    return _cost_center(line, field)


def _cost_center(line: object, field: str) -> str | None:
    attr = {"costCenter": "cost_center", "cost_center": "cost_center", "class": "class_"}.get(field, field)
    value = getattr(line, attr, None)
    return value if isinstance(value, str) and value.strip() else None


def is_reverse_charge(line: InvoiceLine, mapping: MappingConfig) -> bool:
    """Whether the line's tax code is reverse charge (``mapping.reverse_charge``): the buyer assesses
    the VAT, so a supplier who charged VAT on it contradicts the code and the document parks."""
    if not line.tax_code or line.tax_code not in (mapping.reverse_charge or {}):
        return False
    if line.line_tax_amount:
        raise Unpostable(
            Problem(
                Category.SOURCE_DATA,
                "reverse_charge_with_vat",
                f"line {line.line_number} has reverse-charge tax code {line.tax_code} but the "
                f"supplier charged VAT ({line.line_tax_amount}); correct the tax code or the "
                "amount in Stampli and export it again",
            )
        )
    return True


def invoice_voucher(
    inv: Invoice,
    mapping: MappingConfig,
    *,
    period: str,
    transaction_date: date,
    company_currency: str | None = None,
) -> Voucher:
    ref = invoice_reference(inv)
    kind = "credit note" if inv.document_type == "CREDIT_NOTE" else "invoice"
    title = f"{inv.vendor_name} {kind} {inv.invoice_number}"
    lines: list[VoucherLine] = []
    vat: dict[str, Decimal] = defaultdict(Decimal)
    reverse: dict[str, Decimal] = defaultdict(Decimal)  # tax code -> net amount it is self-assessed on
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
        if line.tax_code and is_reverse_charge(line, mapping):
            reverse[line.tax_code] += line.line_net_amount
        elif line.line_tax_amount:
            vat[line.tax_code or ""] += line.line_tax_amount
    for code, amount in sorted(vat.items()):
        if not amount:
            continue
        account = mapping.tax_accounts.get(code)
        if account is None:
            raise _unmapped(
                "tax_code_unmapped",
                f"tax code {code or '(empty)'} has no input VAT account in mapping.tax_accounts; "
                "add it, then replay",
            )
        lines.append(_line(mapping, account, amount, ref, f"{title}: input VAT code {code}"))
    lines += _reverse_charge_lines(reverse, mapping, inv.currency, ref, title)
    # The credit side: the total, on the configured clearing/AP account (mirrored for credit notes).
    lines.append(_line(mapping, mapping.credit_account, -inv.total_amount, ref, title))
    voucher = Voucher(
        transaction_date=transaction_date,
        financial_period=period,
        currency=inv.currency,
        description=f"Stampli {title}"[:255],
        reference=ref,
        lines=tuple(_with_rounding(lines, mapping, inv.currency, ref, title)),
        exchange_rate=inv.exchange_rate,
    )
    if company_currency is None or inv.currency == company_currency or inv.exchange_rate is None:
        return voucher
    return balanced_in_company_currency(voucher, mapping, company_currency, title)


def _reverse_charge_lines(
    nets: Mapping[str, Decimal], mapping: MappingConfig, currency: str, ref: str, title: str
) -> list[VoucherLine]:
    """Self-assessed VAT per reverse-charge code: the rate of the code's net amount, once rounded,
    debited to the input VAT account and credited to the output VAT account (it nets to zero)."""
    lines: list[VoucherLine] = []
    for code, net in sorted(nets.items()):
        input_vat, output_vat = (mapping.reverse_charge or {})[code]
        rate = mapping.reverse_charge_rates.get(code)
        if rate is None:
            raise _unmapped(
                "reverse_charge_rate_missing",
                f'reverse-charge tax code {code} has no rate in mapping.reverse_charge."{code}"; '
                "add it, then replay",
            )
        amount = percent_of(net, rate, currency)
        if not amount:
            continue
        what = f"reverse-charge VAT code {code} {rate} % of {net}"
        lines.append(_line(mapping, input_vat, amount, ref, f"{title}: input {what}"))
        lines.append(_line(mapping, output_vat, -amount, ref, f"{title}: output {what}"))
    return lines


def _with_rounding(
    lines: list[VoucherLine], mapping: MappingConfig, currency: str, ref: str, title: str
) -> list[VoucherLine]:
    """The lines balanced by a rounding line before the counter line (the last one), when they miss
    by at most ``rounding_max``. Without a rounding account nothing is added and ``check_voucher``
    parks an unbalanced voucher, as it always did."""
    diff = sum((ln.debit - ln.credit for ln in lines), Decimal(0))
    if not diff or mapping.rounding_account is None:
        return lines
    if abs(diff) > mapping.rounding_max:
        raise Unpostable(
            Problem(
                Category.SOURCE_DATA,
                "rounding_too_large",
                f"the voucher misses balance by {abs(diff)} {currency}, more than mapping.rounding_max "
                f"({mapping.rounding_max}); the document's totals do not match its lines: correct it in "
                "Stampli and export it again",
            )
        )
    rounding = _line(mapping, mapping.rounding_account, -diff, ref, f"{title}: rounding {currency}")
    return [*lines[:-1], rounding, lines[-1]]


def balanced_in_company_currency(
    voucher: Voucher, mapping: MappingConfig, company_currency: str, title: str
) -> Voucher:
    """The voucher itself when Visma's per-line conversion (``to_company_currency``) balances it in
    the company currency too; else, with ``mapping.rounding_account`` set, the same voucher written in
    the company currency (every line converted the same way) with the øre that are left over on the
    rounding account. Visma's create takes amounts in the batch currency only, so a line that exists in
    the company currency alone can be written only in a company-currency batch."""
    rate = voucher.exchange_rate
    if rate is None or mapping.rounding_account is None:
        return voucher
    converted = [
        replace(
            ln,
            debit=to_company_currency(ln.debit, rate, company_currency),
            credit=to_company_currency(ln.credit, rate, company_currency),
        )
        for ln in voucher.lines
    ]
    if sum((ln.debit - ln.credit for ln in converted), Decimal(0)) == 0:
        return voucher
    lines = _with_rounding(converted, mapping, company_currency, voucher.reference, title)
    return replace(
        voucher,
        currency=company_currency,
        exchange_rate=None,
        lines=tuple(lines),
        description=f"{voucher.description} ({voucher.currency} at {rate})"[:255],
    )


def bank_account_for(pay: Payment, mapping: MappingConfig) -> str:
    if pay.bank_account and pay.bank_account in mapping.bank_accounts:
        return mapping.bank_accounts[pay.bank_account]
    if mapping.default_bank_account:
        return mapping.default_bank_account
    raise _unmapped(
        "bank_account_unmapped",
        f"Stampli bank account {pay.bank_account or '(empty)'} has no cash GL account in "
        "mapping.bank_accounts; add it, then replay",
    )


def payment_voucher(
    pay: Payment,
    mapping: MappingConfig,
    *,
    period: str,
    transaction_date: date,
    company_currency: str | None = None,
    bookings: Mapping[str, InvoiceBooking] | None = None,
) -> Voucher:
    """The payment's voucher. ``company_currency`` (Visma's base currency) and ``bookings`` (the
    invoices it applies to, by Stampli invoice id; ``pipeline/settlement.py``) are needed only when a
    currency other than the company's is involved: then the voucher is in the company currency."""
    number = pay.payment_number or pay.stampli_payment_id
    if company_currency is not None and books_in_company_currency(pay, mapping, company_currency):
        return _company_currency_payment(
            pay, mapping, company_currency, bookings or {}, period=period, transaction_date=transaction_date
        )
    for app in pay.applications:
        if app.invoice_currency != pay.payment_currency:
            raise _unmapped(
                "cross_currency_payment",
                f"payment {number} in {pay.payment_currency} applies to invoice {app.invoice_number} in "
                f"{app.invoice_currency}; set mapping.exchange_gain_account and "
                "mapping.exchange_loss_account to book it with its exchange difference, then replay",
            )
    ref = payment_reference(pay)
    vendor = pay.vendor_name or pay.vendor_id
    bank = bank_account_for(pay, mapping)
    lines: list[VoucherLine] = []
    for app in pay.applications:
        text = f"{vendor} payment {number}: {app.document_type.lower()} {app.invoice_number}"
        discount = app.discount_amount or Decimal(0)
        lines.append(_line(mapping, mapping.credit_account, app.applied_amount + discount, ref, text))
        if discount:
            account = _discount_account(pay, app.invoice_number, discount, mapping)
            lines.append(_line(mapping, account, -discount, ref, f"{text}: discount taken"))
    text = f"{vendor} payment {number} ({pay.payment_method})"
    lines.append(_line(mapping, bank, -pay.payment_amount, ref, text))
    return Voucher(
        transaction_date=transaction_date,
        financial_period=period,
        currency=pay.payment_currency,
        description=f"Stampli payment {number} to {vendor}"[:255],
        reference=ref,
        lines=tuple(_with_rounding(lines, mapping, pay.payment_currency, ref, f"{vendor} payment {number}")),
        exchange_rate=pay.exchange_rate,
    )


def books_in_company_currency(pay: Payment, mapping: MappingConfig, company_currency: str) -> bool:
    """The one decision: a payment touching a currency other than the company's is booked in the
    company currency with its realised exchange difference, once an exchange gain or loss account
    is configured. Without one it is booked as before, in its own currency at its own rate (a
    cross-currency payment parks), and any difference stays on the clearing account."""
    if not mapping.books_exchange_differences:
        return False
    currencies = {pay.payment_currency, *(app.invoice_currency for app in pay.applications)}
    return currencies != {company_currency}


def _discount_account(pay: Payment, invoice_number: str, discount: Decimal, mapping: MappingConfig) -> str:
    if mapping.discount_account:
        return mapping.discount_account
    raise _unmapped(
        "discount_unmapped",
        f"payment {pay.payment_number or pay.stampli_payment_id} takes a discount of {discount} on "
        f"invoice {invoice_number}; set mapping.discount_account (the account discounts taken are "
        "credited to), then replay",
    )


def _company_currency_payment(
    pay: Payment,
    mapping: MappingConfig,
    company: str,
    bookings: Mapping[str, InvoiceBooking],
    *,
    period: str,
    transaction_date: date,
) -> Voucher:
    """A payment touching a foreign currency, in the company currency. Each application clears what
    its invoice was booked at: the cumulative amount settled (earlier payments + this one) converted
    at the invoice's rate, minus the same before this payment, so the amounts several payments clear
    add up exactly to the invoice's company-currency amount. A discount is credited at the invoice's
    rate (it reduces that cost); the bank is credited with the payment at the payment's rate; what is
    left is the realised exchange difference (gain credited, loss debited)."""
    number = pay.payment_number or pay.stampli_payment_id
    ref = payment_reference(pay)
    vendor = pay.vendor_name or pay.vendor_id
    pay_rate = _payment_rate(pay, company, number)
    bank = bank_account_for(pay, mapping)
    lines: list[VoucherLine] = []
    for app in pay.applications:
        rate, before = _invoice_rate(app, company, bookings, number)
        discount = app.discount_amount or Decimal(0)
        after = before + app.applied_amount + discount
        cleared = to_company_currency(after, rate, company) - to_company_currency(before, rate, company)
        text = f"{vendor} payment {number}: {app.document_type.lower()} {app.invoice_number}"
        shown = f"{app.invoice_currency} {app.applied_amount + discount} at {rate}"
        lines.append(_line(mapping, mapping.credit_account, cleared, ref, f"{text} ({shown})"))
        if discount:
            account = _discount_account(pay, app.invoice_number, discount, mapping)
            at_rate = to_company_currency(discount, rate, company)
            what = f"{text}: discount {app.invoice_currency} {discount}"
            lines.append(_line(mapping, account, -at_rate, ref, what))
    paid = to_company_currency(pay.payment_amount, pay_rate, company)
    difference = sum((ln.debit - ln.credit for ln in lines), Decimal(0)) - paid
    if difference:
        gain = difference > 0  # cleared more than the bank paid: the invoice cost less than booked
        fx_account = mapping.exchange_gain_account if gain else mapping.exchange_loss_account
        if fx_account is None:
            key = "exchange_gain_account" if gain else "exchange_loss_account"
            raise _unmapped(
                "exchange_account_unmapped",
                f"payment {number} has a realised exchange {'gain' if gain else 'loss'} of "
                f"{abs(difference)} {company}; set mapping.{key}, then replay",
            )
        what = "gain" if gain else "loss"
        lines.append(
            _line(mapping, fx_account, -difference, ref, f"{vendor} payment {number}: exchange {what}")
        )
    shown = f"{pay.payment_currency} {pay.payment_amount} at {pay_rate}"
    text = f"{vendor} payment {number} ({pay.payment_method}, {shown})"
    lines.append(_line(mapping, bank, -paid, ref, text))
    return Voucher(
        transaction_date=transaction_date,
        financial_period=period,
        currency=company,
        description=f"Stampli payment {number} to {vendor} ({shown})"[:255],
        reference=ref,
        lines=tuple(lines),
        exchange_rate=None,
    )


def _payment_rate(pay: Payment, company: str, number: str) -> Decimal:
    if pay.payment_currency == company:
        return Decimal(1)
    if pay.exchange_rate:
        return pay.exchange_rate
    raise Unpostable(
        Problem(
            Category.SOURCE_DATA,
            "payment_rate_missing",
            f"payment {number} in {pay.payment_currency} has no exchange rate to {company}; the realised "
            "exchange difference cannot be booked without it: export it with its rate from Stampli",
        )
    )


def _invoice_rate(
    app: PaymentApplication, company: str, bookings: Mapping[str, InvoiceBooking], number: str
) -> tuple[Decimal, Decimal]:
    """(the invoice's booked rate, what earlier payments settled of it) for one application."""
    currency, invoice_number = app.invoice_currency, app.invoice_number
    booking = bookings.get(app.stampli_invoice_id)
    if currency == company:
        return Decimal(1), booking.settled_before if booking else Decimal(0)
    if booking is None or booking.rate is None:
        why = "is not in the ledger" if booking is None else "was booked at Visma's rate, not a recorded one"
        raise _unmapped(
            "invoice_rate_unknown",
            f"payment {number} applies to invoice {invoice_number} in {currency}, which {why}; the "
            "exchange difference cannot be computed: book this payment by hand in Visma",
        )
    return booking.rate, booking.settled_before


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
