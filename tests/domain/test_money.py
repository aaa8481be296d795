from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from ml_connector.domain.money import AmountFormatError, Money, parse_amount, round_money


def test_float_is_trapped() -> None:
    with pytest.raises(decimal.FloatOperation):
        Decimal(3.14)  # noqa: RUF032
    with pytest.raises(decimal.FloatOperation):
        _ = Decimal("1.0") < 1.5


def test_money_refuses_float_and_mixed_currency() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "NOK")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(Decimal(1), "NOK") + Money(Decimal(1), "SEK")
    assert Money(Decimal("1.10"), "NOK") + Money(Decimal("2.05"), "NOK") == Money(Decimal("3.15"), "NOK")


@pytest.mark.parametrize(
    ("text", "sep", "expected"),
    [("31748.10", ".", "31748.10"), ("-6237,50", ",", "-6237.50"), ("0", ".", "0"), ("+12,5", ",", "12.5")],
)
def test_parse_amount(text: str, sep: str, expected: str) -> None:
    assert parse_amount(text, decimal_sep=sep) == Decimal(expected)
    assert str(parse_amount(text, decimal_sep=sep)) == expected


@pytest.mark.parametrize("text", ["1,234.50", "1 234,50", "(12.00)", "1e5", "", "12.", "abc", "1.234,5"])
def test_parse_amount_rejects_ambiguous(text: str) -> None:
    with pytest.raises(AmountFormatError):
        parse_amount(text, decimal_sep=".")


def test_thousands_only_when_configured() -> None:
    assert parse_amount("1 234,50", decimal_sep=",", thousands_sep=" ") == Decimal("1234.50")
    with pytest.raises(AmountFormatError):
        parse_amount("12 34,50", decimal_sep=",", thousands_sep=" ")


def test_rounding_is_half_even_to_minor_unit() -> None:
    assert round_money(Decimal("2.345"), "NOK") == Decimal("2.34")
    assert round_money(Decimal("2.355"), "NOK") == Decimal("2.36")
    assert round_money(Decimal("100.5"), "JPY") == Decimal("100")
