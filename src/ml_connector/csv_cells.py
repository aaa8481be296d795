"""CSV injection guard for every CSV ml-connector writes (the vendor and coding lists, reconcile's
report, ``--format csv``): a standalone module so the pipeline, the exports and the command line share
it without importing each other.

A cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR would be evaluated by a spreadsheet. Such a
cell is written with one leading apostrophe (``'=1+1``), which spreadsheets show as text and never
evaluate. So that every value still round-trips, a value that *already* starts with apostrophes
followed by one of those characters gets one more apostrophe. Reading back (``restore``): a cell
matching ``'+[=+\\-@\\t\\r]…`` loses exactly one leading apostrophe; every other cell is the value
itself. ``restore(neutralise(v)) == v`` for every string ``v``.

A negative amount (``-6237.50``: a minus, digits, at most one decimal point) is written as it is: a
spreadsheet reads it as a number, and it can name no function or cell, so there is nothing to guard
and an apostrophe would only turn a finance team's amount into text.
"""

from __future__ import annotations

import re

TRIGGERS = "=+-@\t\r"
_NEEDS_GUARD = re.compile(r"^'*[=+\-@\t\r]")
_GUARDED = re.compile(r"^'+[=+\-@\t\r]")
_NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def neutralise(value: str) -> str:
    """The cell for ``value``: one apostrophe in front when a spreadsheet could evaluate it."""
    if _NEEDS_GUARD.match(value) and not _NEGATIVE_NUMBER.fullmatch(value):
        return "'" + value
    return value


def is_plain_negative_number(cell: str) -> bool:
    """True for a cell ``neutralise`` leaves as it is although it starts with ``-``."""
    return _NEGATIVE_NUMBER.fullmatch(cell) is not None


def restore(cell: str) -> str:
    """The value of a cell written by ``neutralise`` (its exact inverse)."""
    return cell[1:] if _GUARDED.match(cell) else cell
