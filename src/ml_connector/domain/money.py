"""Money: a Decimal amount and an ISO 4217 currency. Never a float.

This module is the one place that decides how text becomes an amount and how amounts are
rounded. Everything else imports ``Money``, ``parse_amount`` and ``round_money`` from here.
"""

from __future__ import annotations

import decimal
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

# A context that refuses floats and silent invalid operations. Nothing installs it globally: the
# functions here pass it explicitly, and the places that compute with amounts (a cycle, reading an
# export, the command line) enter it with ``money_context()`` for their own duration only.
MONEY_CONTEXT = decimal.Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    traps=[decimal.FloatOperation, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def money_context() -> AbstractContextManager[decimal.Context]:
    """The trapping context as the current one (a copy) until the ``with`` block ends. Asyncio tasks and
    ``to_thread`` workers started inside inherit it; the process-wide default is never changed."""
    return decimal.localcontext(MONEY_CONTEXT)


# ISO 4217 minor units (the exponent): every active currency whose exponent is not 2 (ISO 4217
# list one, 2024). Every other code, including the funds and metals codes, is read with 2.
_MINOR_UNITS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def finer_than_minor_unit(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` cannot be written in the currency's minor unit (``100.005`` NOK):
    such an amount would be rounded somewhere between Stampli and Visma, and the voucher's two
    sides could be rounded differently. Trailing zeros (``100.000``) are fine."""
    exp = Decimal(1).scaleb(-minor_units(currency), context=MONEY_CONTEXT)
    return amount != amount.quantize(exp, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT)


def is_currency_code(text: str) -> bool:
    return bool(_CURRENCY_RE.match(text))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """The one rounding rule: half-even to the currency's minor unit."""
    exp = Decimal(1).scaleb(-minor_units(currency), context=MONEY_CONTEXT)
    return amount.quantize(exp, rounding=ROUND_HALF_EVEN, context=MONEY_CONTEXT)


def to_company_currency(amount: Decimal, rate: Decimal, company_currency: str) -> Decimal:
    """``amount`` (document currency) in the company currency at ``rate`` (company-currency units per
    document-currency unit), rounded as Visma converts one journal line: half away from zero to the
    company currency's minor unit (the simulator does the same; see docs/accounting.md). Each line
    is converted alone, so a voucher that balances in its currency can miss by an øre per line."""
    exp = Decimal(1).scaleb(-minor_units(company_currency), context=MONEY_CONTEXT)
    product = MONEY_CONTEXT.multiply(amount, rate)
    return product.quantize(exp, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)


def percent_of(amount: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """``rate_percent`` % of ``amount``, rounded by the one rule (``round_money``): a computed VAT."""
    share = MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(amount, rate_percent), Decimal(100))
    return round_money(share, currency)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be a Decimal, not {type(self.amount).__name__}")
        if not is_currency_code(self.currency):
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(MONEY_CONTEXT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(MONEY_CONTEXT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(MONEY_CONTEXT.minus(self.amount), self.currency)

    def rounded(self) -> Money:
        return Money(round_money(self.amount, self.currency), self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class AmountFormatError(ValueError):
    """Text that is not an amount under the stated locale rules."""


# [0-9], not \d: \d also matches other scripts' digits (``１２３``), which Decimal would accept.
_PLAIN = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_COMMA = re.compile(r"^[+-]?[0-9]+(,[0-9]+)?$")
_THOUSANDS_CHARS = (",", ".", " ", "\u00a0", "\u202f", "'")


def parse_amount(text: str, *, decimal_sep: str = ".", thousands_sep: str | None = None) -> Decimal:
    """Parse an amount written with an explicitly stated decimal separator.

    ``decimal_sep`` is ``"."`` or ``","``. Thousands separators are rejected unless
    ``thousands_sep`` names one, because ``1,234`` is ambiguous. Accounting negatives
    ``(123.45)`` and exponents are rejected.
    """
    raw = text.strip()
    if not raw:
        raise AmountFormatError("empty amount")
    if thousands_sep:
        parts = raw.split(decimal_sep)
        if len(parts) > 2:
            raise AmountFormatError(f"more than one decimal separator in {text!r}")
        whole = parts[0]
        groups = whole.lstrip("+-").split(thousands_sep)
        if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
            raise AmountFormatError(f"misplaced thousands separator in {text!r}")
        raw = whole.replace(thousands_sep, "") + ("." + parts[1] if len(parts) == 2 else "")
        decimal_sep = "."
    if decimal_sep == ",":
        if not _COMMA.match(raw):
            raise AmountFormatError(_why(text, ","))
        raw = raw.replace(",", ".")
    elif decimal_sep == ".":
        if not _PLAIN.match(raw):
            raise AmountFormatError(_why(text, "."))
    else:
        raise ValueError(f"unsupported decimal separator {decimal_sep!r}")
    return Decimal(raw)  # exact: the constructor never rounds to a precision


def _why(text: str, decimal_sep: str) -> str:
    stripped = text.strip()
    if stripped.startswith("(") and stripped.endswith(")"):
        return f"accounting negative {text!r} is not accepted; write -{stripped[1:-1]}"
    other = "," if decimal_sep == "." else "."
    if other in stripped or any(c in stripped for c in _THOUSANDS_CHARS[2:]):
        return f"{text!r} uses a separator other than the configured decimal {decimal_sep!r}"
    return f"{text!r} is not a decimal amount"


def format_amount(amount: Decimal) -> str:
    """Canonical text: ``.`` separator, no exponent, digits as given."""
    return format(amount, "f")
