"""Column-wise reads of a batch of documents' cells: the common case of many values in a few C calls.

``build_invoices`` reads each field of a batch as one column. Every function here answers for a whole
column or not at all (None): when it cannot vouch for every cell, each cell takes its field's own read
in ``build`` (which reports). So the rules stay in one place; these only feed them faster. A column
answered here is exactly what the per-cell read returns for each of its cells, with no issue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from itertools import repeat
from operator import is_not
from typing import TypeVar

from ml_connector.stampli.values import ValueRules

_T = TypeVar("_T")
# A plain amount of at most 16 characters: in range (see ``ValueRules.plain_amount``).
_MAX_PLAIN = 16


@cache
def _column_shape(pattern: str) -> re.Pattern[str]:
    """One value of ``pattern`` per line, for the whole column joined by line breaks."""
    return re.compile(rf"(?:{pattern})(?:\n(?:{pattern}))*")


def plain_amounts(texts: Sequence[str | None], rules: ValueRules, places: int | None) -> list[Decimal] | None:
    """Each text's amount when every one is a short plain number under ``rules`` with at most
    ``places`` decimals (None: any), as ``ValueCache.amount_reader`` reads it; else None."""
    shape = rules.plain_shape_within(places)
    if shape is None or not texts or not all(texts):
        return None
    if max(map(len, texts)) > _MAX_PLAIN:  # type: ignore[arg-type]  # no None in it (all())
        return None
    joined = "\n".join(texts)  # type: ignore[arg-type]  # no None in it
    if joined.count("\n") != len(texts) - 1 or _column_shape(shape.pattern).fullmatch(joined) is None:
        return None
    if rules.decimal_sep == ",":  # the shape's only separator
        return list(map(Decimal, joined.replace(",", ".").split("\n")))
    return list(map(Decimal, texts))  # type: ignore[arg-type]  # no None in it


def trimmed(
    texts: Sequence[str | None], *, ascii_only: bool, verbatim: bool = False
) -> list[str | None] | None:
    """``_Fields.text`` of each text in its common case: all printable (and plain ASCII when
    ``ascii_only``: ids, codes), kept trimmed (as written when ``verbatim``); an empty or blank
    text is no value. None: some text needs the full read."""
    joined = "".join(filter(None, texts))
    if not joined:
        return [None] * len(texts)
    if not joined.isprintable() or (ascii_only and not joined.isascii()):
        return None
    if verbatim:
        return [t or None for t in texts]
    return [t.strip() or None if t else None for t in texts]


def looked_up(table: dict[str, _T], texts: Sequence[str | None]) -> list[_T | None]:
    """Each text's value read before without an issue (``ValueCache``), None where it was not."""
    return list(map(table.get, texts))  # type: ignore[arg-type]  # None is never a key


def fill(
    values: list[_T | None], texts: Sequence[str | None], required: bool, full: Callable[[int], _T | None]
) -> list[_T | None]:
    """``values`` with each gap read in full (``full(i)``, which reports): a gap is a falsy value
    where the text is not empty, or where the field is required (the full read says it is missing).
    An empty optional text stays None. A falsy value (a zero) takes the full read too: the same
    value, no issue."""
    if all(values):
        return values
    for i, value in enumerate(values):
        if not value:
            values[i] = full(i) if required or texts[i] else None
    return values


def has_none(values: Sequence[object]) -> bool:
    """``None in values`` without comparing: ``Decimal == None`` asks ``numbers.Rational`` (slow)."""
    return not all(map(is_not, values, repeat(None)))
