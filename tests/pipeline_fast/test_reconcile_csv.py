"""reconcile's CSV report: formula cells are text, a credit note's negative amounts stay numbers."""

from __future__ import annotations

import csv
import io

from ml_connector.csv_cells import restore
from ml_connector.pipeline.reconcile import ReconRow, to_csv


def _row(**over: str) -> ReconRow:
    base = {
        "doc_key": "invoice:C1:900",
        "outcome": "matched",
        "status": "posted",
        "reference": "ST-900",
        "vendor": "Nordlys AS",
        "number": "CN-7",
        "currency": "NOK",
        "amount": "-6237.50",
        "sent_total": "-6237.50",
        "visma_total": "-6237.50",
        "batch_number": "000123",
        "detail": "",
    }
    return ReconRow(**{**base, **over})


def _cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_a_credit_notes_negative_amounts_are_written_as_numbers() -> None:
    (row,) = _cells(to_csv([_row()]))
    assert (row["amount"], row["sent_total"], row["visma_total"]) == ("-6237.50", "-6237.50", "-6237.50")


def test_formula_cells_stay_text_next_to_negative_amounts() -> None:
    (row,) = _cells(to_csv([_row(vendor="-2+3+cmd|' /C calc'!A0", detail="=1+1", number="-7")]))
    assert row["vendor"] == "'-2+3+cmd|' /C calc'!A0"
    assert row["detail"] == "'=1+1"
    assert row["number"] == "-7"  # a plain negative number, whatever the column: nothing to evaluate
    assert {k: restore(v) for k, v in row.items()}["vendor"] == "-2+3+cmd|' /C calc'!A0"
