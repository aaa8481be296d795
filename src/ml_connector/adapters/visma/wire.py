"""The JSON wire format: exact Decimal numbers out, Decimal numbers in, and the journal DTO.

``json.dumps`` cannot write a ``Decimal`` and going through ``float`` would change amounts, so
``dumps`` is a small encoder that writes a Decimal as its plain digits (``31748.10``).
``loads`` parses every JSON fraction as a ``Decimal``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ml_connector.domain.journal import Voucher, VoucherLine

PERIOD_FORMAT = re.compile(r"^\d{4}(0[1-9]|1[0-9])$")


def dumps(value: object) -> str:
    """JSON text for ``value``; Decimals become exact numbers, floats are refused."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: object, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite amount: {value}")
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        raise TypeError("floats are not sent to Visma; use Decimal")
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON with every fraction as a Decimal (no float ever appears)."""
    return json.loads(text, parse_float=Decimal)


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
