from __future__ import annotations

import decimal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.domain.money import AmountFormatError, Money, money_context, parse_amount, round_money


def test_float_is_trapped() -> None:
    with money_context(), pytest.raises(decimal.FloatOperation):
        Decimal(3.14)  # noqa: RUF032
    with money_context(), pytest.raises(decimal.FloatOperation):
        _ = Decimal("1.0") < 1.5


def test_importing_changes_no_global_decimal_context() -> None:
    # A fresh interpreter: this test process has imported everything already.
    probe = (
        "import decimal; before = (decimal.DefaultContext.prec, dict(decimal.DefaultContext.traps),"
        " decimal.getcontext().prec, dict(decimal.getcontext().traps));"
        "import ml_connector.domain.money, ml_connector.pipeline.cycle, ml_connector.entrypoints.cli;"
        "after = (decimal.DefaultContext.prec, dict(decimal.DefaultContext.traps),"
        " decimal.getcontext().prec, dict(decimal.getcontext().traps));"
        "print(before == after)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_money_context_is_left_behind() -> None:
    outside = decimal.getcontext()
    with money_context() as ctx:
        assert ctx.traps[decimal.FloatOperation] and ctx.prec == 34
    assert decimal.getcontext() is outside


def test_money_helpers_trap_without_the_context_entered() -> None:
    # Money's own arithmetic and rounding pass the trapping context explicitly.
    with pytest.raises(decimal.InvalidOperation):
        round_money(Decimal("1E+40"), "NOK")
    assert round_money(Decimal("1234567890123456789012345678901.255"), "NOK") == Decimal(
        "1234567890123456789012345678901.26"
    )


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


def test_reading_an_export_leaves_the_callers_decimal_context(samples_dir: Path) -> None:
    from ml_connector.stampli.profile import BUILTIN_PROFILES
    from ml_connector.stampli.read import iter_export

    outside = decimal.getcontext()
    sample = samples_dir / "stampli_invoices_C100234_20250310T071500Z_0001.csv"
    stream = iter_export(sample, profile=BUILTIN_PROFILES["canonical"])
    seen = []
    for doc in stream:
        assert decimal.getcontext() is outside  # between two documents the caller's context is current
        seen.append(doc)
    assert seen and not outside.traps[decimal.FloatOperation]
