"""Accounting completeness in journal mode (issue 16): reverse charge, discounts, partial and
foreign-currency payments with their realised exchange difference, rounding. Exact lines and amounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import (
    DocumentType,
    Invoice,
    InvoiceLine,
    LineType,
    Payment,
    PaymentApplication,
    Provenance,
)
from ml_connector.domain.journal import Voucher
from ml_connector.domain.money import to_company_currency
from ml_connector.domain.problems import Category, Unpostable
from ml_connector.domain.settlement import InvoiceBooking
from ml_connector.pipeline.journal import invoice_voucher, payment_voucher, reversal_voucher
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import read_export

D = Decimal
MAPPING = MappingConfig(
    credit_account="2460",
    default_segments={1: "0000", 2: "00"},
    tax_accounts={"1": "2710", "11": "2711"},
    reverse_charge={"86": ("2720", "2740")},
    reverse_charge_rates={"86": D("25")},
    bank_accounts={"DNB-EUR-1503.99.12345": "1921"},
    default_bank_account="1920",
    discount_account="3090",
    exchange_gain_account="8060",
    exchange_loss_account="8160",
    rounding_account="7790",
    rounding_max=D("0.05"),
)
PROV = Provenance("/outbound/x.csv", "0" * 64)


def lines(v: Voucher) -> list[tuple[str, Decimal, Decimal]]:
    return [(ln.account, ln.debit, ln.credit) for ln in v.lines]


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> dict[str, Invoice]:
    path = next(samples_dir.glob("stampli_invoices_*.csv"))
    result = read_export(path, profile=BUILTIN_PROFILES["canonical"])
    return {inv.stampli_invoice_id or "": inv for inv in result.documents if isinstance(inv, Invoice)}


def invoice(
    nets: list[str],
    total: str,
    *,
    currency: str = "EUR",
    rate: str | None = "11.50",
    taxes: list[str] | None = None,
) -> Invoice:
    taxes = taxes or ["0.00"] * len(nets)
    return Invoice(
        stampli_company_id="C100234",
        stampli_invoice_id="900",
        document_type=DocumentType.INVOICE,
        invoice_number="F-900",
        vendor_id="10023",
        vendor_name="Acme",
        invoice_date=date(2025, 3, 3),
        due_date=date(2025, 4, 2),
        currency=currency,
        subtotal_amount=sum((D(n) for n in nets), D(0)),
        tax_amount=sum((D(t) for t in taxes), D(0)),
        total_amount=D(total),
        approval_status="APPROVED",
        approved_at=None,
        exported_at=None,
        lines=tuple(
            InvoiceLine(i, LineType.GL, D(n), D(t), gl_account="6790", tax_code="1" if D(t) else None)
            for i, (n, t) in enumerate(zip(nets, taxes, strict=True), start=1)
        ),
        provenance=PROV,
        exchange_rate=D(rate) if rate else None,
    )


def payment(
    *apps: tuple[str, str, str | None],
    amount: str,
    currency: str = "EUR",
    rate: str | None = "11.20",
    invoice_currency: str = "EUR",
) -> Payment:
    """``apps``: (stampli invoice id, applied, discount)."""
    return Payment(
        stampli_company_id="C100234",
        stampli_payment_id="P1",
        payment_date=date(2025, 3, 20),
        payment_method="BANK_TRANSFER",
        payment_status="PAID",
        payment_currency=currency,
        payment_amount=D(amount),
        vendor_id="10023",
        exported_at=None,
        applications=tuple(
            PaymentApplication(
                iid, f"F-{iid}", DocumentType.INVOICE, invoice_currency, D(a), D(d) if d else None
            )
            for iid, a, d in apps
        ),
        provenance=PROV,
        bank_account="DNB-EUR-1503.99.12345" if currency == "EUR" else None,
        exchange_rate=D(rate) if rate else None,
        payment_number="PN-1",
        vendor_name="Acme",
    )


def booking(total: str, rate: str | None = "11.50", before: str = "0") -> dict[str, InvoiceBooking]:
    return {"900": InvoiceBooking("900", "EUR", D(total), D(rate) if rate else None, D(before))}


def pay_voucher(pay: Payment, bookings: dict[str, InvoiceBooking] | None = None, **kw: object) -> Voucher:
    mapping = kw.pop("mapping", MAPPING)
    return payment_voucher(
        pay,
        mapping,  # type: ignore[arg-type]
        period="202503",
        transaction_date=pay.payment_date,
        company_currency="NOK",
        bookings=bookings,
    )


# ---- reverse charge ------------------------------------------------------------------------------


def test_reverse_charge_books_input_and_output_vat_at_the_configured_rate(
    samples: dict[str, Invoice],
) -> None:
    sek = samples["41877402"]  # two lines coded 86, no VAT charged by the supplier
    v = invoice_voucher(
        sek, MAPPING, period="202503", transaction_date=sek.invoice_date, company_currency="NOK"
    )
    assert v.currency == "SEK" and v.exchange_rate == D("1.0612")
    assert lines(v) == [
        ("6790", D("22500.00"), 0),
        ("7140", D("2340.00"), 0),
        ("2720", D("6210.00"), 0),  # 25 % of 24840.00, deductible input VAT
        ("2740", 0, D("6210.00")),  # the self-assessed output VAT
        ("2460", 0, D("24840.00")),  # the counter line stays last: the supplier is owed what it invoiced
    ]
    assert v.balanced
    assert "reverse-charge VAT code 86 25 % of 24840.00" in v.lines[2].description


def test_reverse_charge_rounds_once_per_code_and_mirrors_a_credit_note() -> None:
    inv = replace(
        invoice(["333.33", "333.33"], "666.66", currency="NOK", rate=None),
        document_type=DocumentType.CREDIT_NOTE,
    )
    inv = replace(
        inv,
        total_amount=D("-666.66"),
        lines=tuple(replace(ln, line_net_amount=-ln.line_net_amount, tax_code="86") for ln in inv.lines),
    )
    rates = {"86": D("12")}
    v = invoice_voucher(
        inv, replace(MAPPING, reverse_charge_rates=rates), period="202503", transaction_date=inv.invoice_date
    )
    # 12 % of -666.66 = -79.9992 -> -80.00 (once, not 2 x -40.00 by chance of the lines)
    assert lines(v) == [
        ("6790", 0, D("333.33")),
        ("6790", 0, D("333.33")),
        ("2720", 0, D("80.00")),
        ("2740", D("80.00"), 0),
        ("2460", D("666.66"), 0),
    ]


def test_reverse_charge_without_a_rate_or_with_vat_charged_parks() -> None:
    inv = invoice(["1000.00"], "1000.00", currency="NOK", rate=None)
    inv = replace(inv, lines=tuple(replace(ln, tax_code="86") for ln in inv.lines))
    with pytest.raises(Unpostable) as exc:
        invoice_voucher(
            inv, replace(MAPPING, reverse_charge_rates={}), period="202503", transaction_date=inv.invoice_date
        )
    assert [(p.category, p.code) for p in exc.value.problems] == [
        (Category.MAPPING, "reverse_charge_rate_missing")
    ]
    assert 'mapping.reverse_charge."86"' in str(exc.value)
    charged = replace(inv, tax_amount=D("250.00"), total_amount=D("1250.00"))
    charged = replace(charged, lines=tuple(replace(ln, line_tax_amount=D("250.00")) for ln in inv.lines))
    with pytest.raises(Unpostable) as exc:
        invoice_voucher(charged, MAPPING, period="202503", transaction_date=inv.invoice_date)
    assert [p.code for p in exc.value.problems] == ["reverse_charge_with_vat"]


# ---- rounding ------------------------------------------------------------------------------------


def test_a_small_difference_between_total_and_lines_goes_to_the_rounding_account() -> None:
    inv = invoice(["100.00"], "125.01", currency="NOK", rate=None, taxes=["25.00"])
    v = invoice_voucher(inv, MAPPING, period="202503", transaction_date=inv.invoice_date)
    assert lines(v) == [
        ("6790", D("100.00"), 0),
        ("2710", D("25.00"), 0),
        ("7790", D("0.01"), 0),
        ("2460", 0, D("125.01")),
    ]
    too_large = invoice(["100.00"], "125.06", currency="NOK", rate=None, taxes=["25.00"])
    with pytest.raises(Unpostable) as exc:
        invoice_voucher(too_large, MAPPING, period="202503", transaction_date=inv.invoice_date)
    assert [(p.category, p.code) for p in exc.value.problems] == [
        (Category.SOURCE_DATA, "rounding_too_large")
    ]
    assert "0.06 NOK" in str(exc.value) and "rounding_max (0.05)" in str(exc.value)
    # without a rounding account nothing is added: check_voucher parks the unbalanced voucher as before
    bare = invoice_voucher(
        inv, replace(MAPPING, rounding_account=None), period="202503", transaction_date=inv.invoice_date
    )
    assert not bare.balanced


def test_a_foreign_invoice_that_misses_by_an_ore_in_company_currency_is_written_in_it() -> None:
    inv = invoice(["33.33", "33.33", "33.34"], "100.00", rate="10.0155")
    v = invoice_voucher(
        inv, MAPPING, period="202503", transaction_date=inv.invoice_date, company_currency="NOK"
    )
    # Visma converts each line: 333.82 + 333.82 + 333.92 = 1001.56 against 1001.55 for the total
    assert v.currency == "NOK" and v.exchange_rate is None
    assert lines(v) == [
        ("6790", D("333.82"), 0),
        ("6790", D("333.82"), 0),
        ("6790", D("333.92"), 0),
        ("7790", 0, D("0.01")),
        ("2460", 0, D("1001.55")),  # = the total converted: what a payment later clears
    ]
    assert "(EUR at 10.0155)" in v.description
    # the same invoice at a rate where the lines convert to a balance stays in its own currency
    same = invoice_voucher(
        replace(inv, exchange_rate=D("11.6825")),
        MAPPING,
        period="202503",
        transaction_date=inv.invoice_date,
        company_currency="NOK",
    )
    assert same.currency == "EUR" and same.exchange_rate == D("11.6825")


# ---- discounts and partial payments -------------------------------------------------------------


def test_a_discount_taken_is_credited_to_the_discount_account() -> None:
    pay = payment(
        ("900", "980.00", "20.00"), amount="980.00", currency="NOK", rate=None, invoice_currency="NOK"
    )
    v = pay_voucher(pay)
    assert v.currency == "NOK"
    assert lines(v) == [
        ("2460", D("1000.00"), 0),  # the invoice is settled in full: applied + discount
        ("3090", 0, D("20.00")),
        ("1920", 0, D("980.00")),  # what left the bank, still the counter line
    ]
    with pytest.raises(Unpostable) as exc:
        pay_voucher(pay, mapping=replace(MAPPING, discount_account=None))
    assert [(p.category, p.code) for p in exc.value.problems] == [(Category.MAPPING, "discount_unmapped")]
    assert "mapping.discount_account" in str(exc.value)


def test_partial_payments_in_company_currency_leave_the_rest_open() -> None:
    first = payment(
        ("900", "400.00", None), amount="400.00", currency="NOK", rate=None, invoice_currency="NOK"
    )
    second = replace(first, stampli_payment_id="P2", payment_amount=D("600.00"))
    second = replace(second, applications=(replace(first.applications[0], applied_amount=D("600.00")),))
    v1, v2 = pay_voucher(first), pay_voucher(second)
    assert lines(v1) == [("2460", D("400.00"), 0), ("1920", 0, D("400.00"))]
    assert lines(v2) == [("2460", D("600.00"), 0), ("1920", 0, D("600.00"))]
    # 1000.00 credited by the invoice, 400.00 + 600.00 debited: the clearing account is zero
    assert sum(ln.debit for v in (v1, v2) for ln in v.lines if ln.account == "2460") == D("1000.00")


# ---- foreign currency: realised exchange difference ----------------------------------------------


def test_a_payment_at_a_lower_rate_books_an_exchange_gain_in_company_currency() -> None:
    v = pay_voucher(payment(("900", "1000.00", None), amount="1000.00", rate="11.20"), booking("1000.00"))
    assert v.currency == "NOK" and v.exchange_rate is None
    assert lines(v) == [
        ("2460", D("11500.00"), 0),  # cleared at the invoice's rate: exactly what the invoice credited
        ("8060", 0, D("300.00")),
        ("1921", 0, D("11200.00")),
    ]
    assert v.balanced and "EUR 1000.00 at 11.20" in v.description


def test_a_payment_at_a_higher_rate_books_an_exchange_loss_and_a_void_reverses_it() -> None:
    v = pay_voucher(payment(("900", "1000.00", None), amount="1000.00", rate="11.80"), booking("1000.00"))
    assert lines(v) == [("2460", D("11500.00"), 0), ("8160", D("300.00"), 0), ("1921", 0, D("11800.00"))]
    r = reversal_voucher(
        v, reference="SPV-P1", period="202504", transaction_date=date(2025, 4, 1), why="void"
    )
    assert lines(r) == [("2460", 0, D("11500.00")), ("8160", 0, D("300.00")), ("1921", D("11800.00"), 0)]


def test_a_cross_currency_payment_and_a_discount_at_the_invoice_rate() -> None:
    # a EUR invoice paid from the NOK account: 990.00 EUR applied + 10.00 EUR discount for 11 400.00 NOK
    pay = payment(("900", "990.00", "10.00"), amount="11400.00", currency="NOK", rate=None)
    v = pay_voucher(pay, booking("1000.00"))
    assert lines(v) == [
        ("2460", D("11500.00"), 0),
        ("3090", 0, D("115.00")),  # 10.00 EUR at the invoice's 11.50
        ("8160", D("15.00"), 0),  # 990.00 EUR booked at 11385.00 cost 11400.00: a loss
        ("1920", 0, D("11400.00")),
    ]


def test_several_partial_foreign_payments_clear_exactly_what_the_invoice_booked() -> None:
    rate = "10.0155"
    inv = invoice(["100.01"], "100.01", rate=rate)
    iv = invoice_voucher(
        inv, MAPPING, period="202503", transaction_date=inv.invoice_date, company_currency="NOK"
    )
    credited = to_company_currency(D("100.01"), D(rate), "NOK")
    assert credited == D("1001.65")  # 1001.650155
    cleared = D(0)
    before = D(0)
    for applied, pay_rate in (("33.33", "10.10"), ("33.33", "9.90"), ("33.35", "10.0155")):
        pay = payment(("900", applied, None), amount=applied, rate=pay_rate)
        v = pay_voucher(pay, booking("100.01", rate, before=str(before)))
        assert v.balanced
        cleared += sum((ln.debit for ln in v.lines if ln.account == "2460"), D(0))
        before += D(applied)
    # one by one each converts to 333.82 + 333.82 + 334.02 = 1001.66; cumulatively they clear 1001.65
    assert cleared == credited
    # the invoice stays in EUR; Visma converts its clearing line to the same 1001.65
    [clearing] = [ln for ln in iv.lines if ln.account == "2460"]
    assert iv.currency == "EUR" and to_company_currency(clearing.credit, D(rate), "NOK") == credited


def test_foreign_payments_need_the_invoices_rate_and_their_own() -> None:
    pay = payment(("900", "1000.00", None), amount="1000.00")
    with pytest.raises(Unpostable) as exc:
        pay_voucher(pay, {})
    assert [p.code for p in exc.value.problems] == ["invoice_rate_unknown"]
    assert "is not in the ledger" in str(exc.value)
    with pytest.raises(Unpostable) as exc:
        pay_voucher(pay, booking("1000.00", rate=None))
    assert "booked at Visma's rate" in str(exc.value)
    with pytest.raises(Unpostable) as exc:
        pay_voucher(replace(pay, exchange_rate=None), booking("1000.00"))
    assert [p.code for p in exc.value.problems] == ["payment_rate_missing"]
    with pytest.raises(Unpostable) as exc:
        pay_voucher(pay, booking("1000.00"), mapping=replace(MAPPING, exchange_gain_account=None))
    assert [p.code for p in exc.value.problems] == ["exchange_account_unmapped"]
    assert "mapping.exchange_gain_account" in str(exc.value)


def test_without_exchange_accounts_a_foreign_payment_is_booked_as_before() -> None:
    old = replace(MAPPING, exchange_gain_account=None, exchange_loss_account=None)
    v = pay_voucher(payment(("900", "1000.00", None), amount="1000.00"), None, mapping=old)
    assert v.currency == "EUR" and v.exchange_rate == D("11.20")
    assert lines(v) == [("2460", D("1000.00"), 0), ("1921", 0, D("1000.00"))]
    with pytest.raises(Unpostable) as exc:
        pay_voucher(
            payment(("900", "990.00", None), amount="11400.00", currency="NOK", rate=None), None, mapping=old
        )
    assert [p.code for p in exc.value.problems] == ["cross_currency_payment"]


def test_check_names_every_accounting_account_with_its_key() -> None:
    from ml_connector.service.checks import mapped_accounts

    named = dict(mapped_accounts(MAPPING))
    assert named["mapping.discount_account"] == "3090"
    assert named["mapping.exchange_gain_account"] == "8060"
    assert named["mapping.exchange_loss_account"] == "8160"
    assert named["mapping.rounding_account"] == "7790"
    assert named['mapping.reverse_charge."86" (output)'] == "2740"
