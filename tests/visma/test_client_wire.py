"""Decimal-exact JSON and the journal DTO (checked against our Visma contract)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped,unused-ignore]

from ml_connector.adapters.visma import wire
from ml_connector.domain.journal import Voucher, VoucherLine
from tests.support.contract import field_names, load_contract
from tests.visma.test_client_support import voucher


def test_decimal_is_written_as_exact_json_number() -> None:
    text = wire.dumps({"a": Decimal("31748.10"), "b": Decimal("0.1"), "c": Decimal("-5.000"), "n": 3})
    assert text == '{"a":31748.10,"b":0.1,"c":-5.000,"n":3}'
    # A float would lose the trailing zero and could change digits; the text keeps both.
    assert wire.loads(text)["a"] == Decimal("31748.10")
    assert str(wire.loads(text)["a"]) == "31748.10"


def test_large_and_tiny_decimals_never_use_exponent() -> None:
    assert wire.dumps(Decimal("1E+3")) == "1000"
    assert wire.dumps(Decimal("1.23E-7")) == "0.000000123"
    assert wire.dumps(Decimal("123456789012345678.99")) == "123456789012345678.99"


def test_floats_and_non_finite_amounts_are_refused() -> None:
    with pytest.raises(TypeError):
        wire.dumps({"x": 1.5})
    with pytest.raises(ValueError):
        wire.dumps(Decimal("NaN"))
    with pytest.raises(ValueError):
        wire.dumps(Decimal("Infinity"))


def test_strings_are_escaped_and_unicode_kept() -> None:
    text = wire.dumps({"d": 'Kontor "AS" Ærø\n', "ok": True, "none": None, "l": [1, "x"]})
    assert json.loads(text) == {"d": 'Kontor "AS" Ærø\n', "ok": True, "none": None, "l": [1, "x"]}


def test_loads_parses_fractions_as_decimal() -> None:
    data = wire.loads('{"amount": 12500.00, "count": 2}')
    assert isinstance(data["amount"], Decimal) and data["amount"] == Decimal("12500.00")
    assert isinstance(data["count"], int)


def test_journal_dto_shape() -> None:
    dto = wire.journal_dto(voucher("INV-77", "31748.10"))
    assert dto["transactionDate"] == {"value": "2024-03-31T00:00:00"}
    assert dto["financialPeriod"] == {"value": "202403"}
    assert dto["currencyId"] == {"value": "NOK"}
    assert dto["hold"] == {"value": False}
    lines = dto["journalTransactionLines"]
    assert isinstance(lines, list) and len(lines) == 2
    debit, credit = lines
    assert debit["operation"] == "Insert"
    assert debit["accountNumber"] == {"value": "6800"}
    assert debit["subaccount"] == [
        {"segmentId": 1, "segmentValue": "0002"},
        {"segmentId": 2, "segmentValue": "00"},
    ]
    assert debit["referenceNumber"] == {"value": "INV-77"}
    assert debit["debitAmountInCurrency"] == {"value": Decimal("31748.10")}
    assert "creditAmountInCurrency" not in debit
    assert credit["creditAmountInCurrency"] == {"value": Decimal("31748.10")}
    assert "debitAmountInCurrency" not in credit
    body = wire.dumps(dto)
    assert '"debitAmountInCurrency":{"value":31748.10}' in body
    assert '"creditAmountInCurrency":{"value":31748.10}' in body


def test_journal_dto_optional_header_fields_and_reference_fallback() -> None:
    v = Voucher(
        transaction_date=date(2025, 1, 2),
        financial_period="202501",
        currency="EUR",
        description="x",
        reference="DOC-9",
        exchange_rate=Decimal("11.4523"),
        branch="1",
        ledger="L",
        lines=(
            VoucherLine("6800", Decimal("1.00"), Decimal(0), "", "a", vat_code="25"),
            VoucherLine("2400", Decimal(0), Decimal("1.00"), "", "b"),
        ),
    )
    dto = wire.journal_dto(v)
    assert dto["exchangeRate"] == {"value": Decimal("11.4523")}
    assert dto["branch"] == {"value": "1"} and dto["ledger"] == {"value": "L"}
    lines = dto["journalTransactionLines"]
    assert isinstance(lines, list)
    assert all(line["referenceNumber"] == {"value": "DOC-9"} for line in lines)
    assert lines[0]["vatCodeId"] == {"value": "25"}
    assert "subaccount" not in lines[1]


def test_journal_dto_refuses_bad_period_and_empty_voucher() -> None:
    v = voucher()
    with pytest.raises(ValueError, match="YYYYMM"):
        wire.journal_dto(
            Voucher(v.transaction_date, "2024-03", v.currency, v.description, v.reference, v.lines)
        )
    with pytest.raises(ValueError, match="without lines"):
        wire.journal_dto(Voucher(v.transaction_date, "202403", v.currency, v.description, v.reference, ()))


def test_journal_dto_matches_our_visma_contract() -> None:
    """Every field journal_dto can send is in tests/support/visma_contract.yml, wrapped as declared
    (the request schema is closed); the contract itself is cross-checked against Visma's files."""
    v = voucher()
    full = Voucher(
        v.transaction_date,
        v.financial_period,
        v.currency,
        v.description,
        v.reference,
        v.lines,
        exchange_rate=Decimal(1),
        branch="1",
        ledger="L",
    )
    contract = load_contract()
    [create] = [op for op in contract.operations if op.key == "POST /v2/journaltransaction"]
    schema = contract.json_schema(create.body, closed=True)
    for dto in (wire.journal_dto(full), wire.journal_dto(v)):
        Draft202012Validator(schema).validate(json.loads(wire.dumps(dto)))
    # and the contract lists exactly what we send: no stale entry that nothing uses
    assert set(wire.journal_dto(full)) == set(field_names(contract.schemas["JournalTransactionUpdate"]))


def test_one_encoder_for_client_and_simulator() -> None:
    # The simulator answers with the product's own encoder: a twin could write amounts differently.
    from ml_connector.sim.visma import jsonio

    assert jsonio.dumps is wire.dumps and jsonio.loads is wire.loads
    assert wire.dumps({"a": Decimal("-0.00"), "b": Decimal("-1.50")}) == '{"a":0.00,"b":-1.50}'
    with pytest.raises(TypeError, match="keys are strings"):
        wire.dumps({1: "x"})
