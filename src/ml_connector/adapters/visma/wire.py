"""The wire format: the journal DTO and Visma's ``{"value": …}`` wrapper; JSON with exact
Decimal numbers comes from ``ml_connector.exact_json`` (re-exported here as ``dumps``/``loads``)."""

from __future__ import annotations

import re

from ml_connector.domain.journal import Voucher, VoucherLine
from ml_connector.exact_json import dumps, loads

__all__ = ["PERIOD_FORMAT", "dumps", "journal_dto", "loads", "value"]

PERIOD_FORMAT = re.compile(r"^\d{4}(0[1-9]|1[0-9])$")


def value(item: object) -> dict[str, object]:
    """Visma's update wrapper ``{"value": …}``."""
    return {"value": item}


def journal_dto(voucher: Voucher) -> dict[str, object]:
    """The ``JournalTransactionUpdateDto`` for ``voucher`` (POST /v2/journaltransaction).

    Scalars are wrapped as ``{"value": …}``; lines and the subaccount segment list are not.
    Every line carries a ``referenceNumber`` (the line's reference, else the voucher's), so a
    post whose outcome is unknown can be found again by reference.
    """
    if not PERIOD_FORMAT.match(voucher.financial_period):
        raise ValueError(f"financial period must be YYYYMM, got {voucher.financial_period!r}")
    if not voucher.lines:
        raise ValueError("a voucher without lines cannot be posted")
    dto: dict[str, object] = {
        "transactionDate": value(voucher.transaction_date.strftime("%Y-%m-%dT00:00:00")),
        "financialPeriod": value(voucher.financial_period),
        "currencyId": value(voucher.currency),
        "description": value(voucher.description),
        "hold": value(False),
    }
    if voucher.exchange_rate is not None:
        dto["exchangeRate"] = value(voucher.exchange_rate)
    if voucher.ledger:
        dto["ledger"] = value(voucher.ledger)
    if voucher.branch:
        dto["branch"] = value(voucher.branch)
    dto["journalTransactionLines"] = [_line_dto(line, voucher.reference) for line in voucher.lines]
    return dto


def _line_dto(line: VoucherLine, default_reference: str) -> dict[str, object]:
    dto: dict[str, object] = {"operation": "Insert", "accountNumber": value(line.account)}
    if line.subaccount:
        dto["subaccount"] = [{"segmentId": s.segment_id, "segmentValue": s.value} for s in line.subaccount]
    dto["referenceNumber"] = value(line.reference or default_reference)
    dto["transactionDescription"] = value(line.description)
    if line.credit:
        dto["creditAmountInCurrency"] = value(line.credit)
    else:
        dto["debitAmountInCurrency"] = value(line.debit)
    if line.vat_code:
        dto["vatCodeId"] = value(line.vat_code)
    return dto
