"""Text to typed values under a profile's explicit rules. Raises ``BadValue`` with an issue code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import cache, cached_property

from ml_connector.domain.money import AmountFormatError, is_currency_code, parse_amount

# [0-9], not \d: only ASCII digits are digits here (\d also matches ``１２３``, ``٥``).
_COMMA_VALUE = re.compile(r"^-?[0-9]+(,[0-9]+)?$")
# Under the §4.2 comma rule a dot followed by exactly three digits may be a thousands separator
# (``7.450`` = 7450) as well as a decimal point (7.45): the reading would be a guess.
_AMBIGUOUS_DOT = re.compile(r"^[+-]?[0-9]{1,3}(\.[0-9]{3})+$")
# What parse_amount reads with either decimal separator and no thousands separator.
_PLAIN_AMOUNT = {".": re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?"), ",": re.compile(r"[+-]?[0-9]+(?:,[0-9]+)?")}
_INT = re.compile(r"^[0-9]{1,9}$")
# decimal(18, x) of §4.3: at most 16 integer digits; keeps every product and rounding exact.
_MAX_ADJUSTED = 15
_MAX_DIGITS = 24


@cache
def _plain_within(decimal_sep: str, places: int) -> re.Pattern[str]:
    """``_PLAIN_AMOUNT[decimal_sep]`` with at most ``places`` digits after the separator."""
    if places == 0:
        return re.compile(r"[+-]?[0-9]+")
    return re.compile(rf"[+-]?[0-9]+(?:{re.escape(decimal_sep)}[0-9]{{1,{places}}})?")


class BadValue(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ValueRules:
    """How one file writes its values. ``comma_rule`` is the §4.2 rule for ``;`` files with no
    explicit decimal separator: a value shaped ``-?digits,digits`` is read with a decimal comma."""

    decimal_sep: str = "."
    thousands_sep: str | None = None
    comma_rule: bool = False
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    datetime_formats: tuple[str, ...] = ()
    tz: tzinfo | None = None

    @cached_property
    def plain_shape(self) -> re.Pattern[str] | None:
        """The shape of a plain amount under these rules, or None when every amount needs the
        full read (a thousands separator, or the comma rule: ``7.450`` is ambiguous there)."""
        if self.thousands_sep is not None or self.comma_rule:
            return None
        return _PLAIN_AMOUNT.get(self.decimal_sep)

    def plain_shape_within(self, places: int | None) -> re.Pattern[str] | None:
        """``plain_shape`` with at most ``places`` decimals (None: any): such a plain amount cannot
        be finer than a minor unit of ``places`` decimals."""
        if self.plain_shape is None or places is None:
            return self.plain_shape
        return _plain_within(self.decimal_sep, places)

    def plain_amount(self, text: str) -> Decimal | None:
        """The amount in a short plain text exactly as ``amount`` reads it, or None (then only
        ``amount`` can tell). At most 16 characters: at most 16 integer digits, in range."""
        plain = self.plain_shape
        if plain is not None and len(text) <= 16 and plain.fullmatch(text):
            return Decimal(text.replace(",", "."))  # the shape allows only the decimal separator
        return None

    def amount(self, text: str) -> Decimal:
        value = self.plain_amount(text)
        if value is not None:
            return value
        sep = self.decimal_sep
        if self.comma_rule:
            if _COMMA_VALUE.match(text.strip()):
                sep = ","
            elif self.thousands_sep is None and _AMBIGUOUS_DOT.match(text.strip()):
                raise BadValue(
                    "invalid_amount",
                    f"{text!r} is ambiguous in a ';' file with decimal commas: the '.' may be a "
                    "thousands separator; declare thousands_sep (and decimal_sep) in the reader profile",
                )
        try:
            value = parse_amount(text, decimal_sep=sep, thousands_sep=self.thousands_sep)
        except AmountFormatError as exc:
            raise BadValue("invalid_amount", str(exc)) from None
        if not value.is_finite():
            raise BadValue("invalid_amount", f"{text!r} is not a finite amount")
        if value and (value.adjusted() > _MAX_ADJUSTED or len(value.as_tuple().digits) > _MAX_DIGITS):
            raise BadValue("invalid_amount", f"{text[:40]!r} is out of range (at most 16 integer digits)")
        return value

    def integer(self, text: str) -> int:
        raw = text.strip()
        if not _INT.match(raw) or int(raw) < 1:
            raise BadValue("invalid_number", f"{text[:40]!r} is not a positive integer (at most 9 digits)")
        return int(raw)

    def date(self, text: str) -> date:
        raw = text.strip()
        if not raw.isascii():  # strptime's %d and %Y accept any script's digits
            raise BadValue("invalid_date", f"{text[:40]!r} is not a date written in ASCII digits")
        for fmt in self.date_formats:
            try:
                return datetime.strptime(raw, fmt).date()  # noqa: DTZ007  (a date, no time zone)
            except ValueError:
                continue
        raise BadValue(
            "invalid_date", f"{text!r} matches none of the date formats {', '.join(self.date_formats)}"
        )

    def timestamp(self, text: str) -> tuple[datetime, bool]:
        """The aware timestamp, and whether it was naive (read in the profile's time zone)."""
        raw = text.strip()
        if not raw.isascii():
            raise BadValue("invalid_timestamp", f"{text[:40]!r} is not a timestamp written in ASCII digits")
        parsed: datetime | None = None
        if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", raw):
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                parsed = None
        if parsed is None:
            for fmt in self.datetime_formats:
                try:
                    parsed = datetime.strptime(raw, fmt)  # noqa: DTZ007  (zone applied below)
                    break
                except ValueError:
                    continue
        if parsed is None:
            raise BadValue("invalid_timestamp", f"{text!r} is not an ISO 8601 timestamp")
        if parsed.tzinfo is None:
            if self.tz is None:
                raise BadValue("invalid_timestamp", f"{text!r} has no UTC offset")
            return parsed.replace(tzinfo=self.tz), True
        return parsed, False

    @staticmethod
    def currency(text: str) -> str:
        raw = text.strip()
        if not is_currency_code(raw):
            raise BadValue("invalid_currency", f"{text!r} is not an ISO 4217 currency code")
        return raw
