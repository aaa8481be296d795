"""Journal rules on the bundled samples: balanced vouchers, mirrored credit notes, VAT, segments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.config.model import MappingConfig
from ml_connector.domain.documents import Invoice, Payment
from ml_connector.domain.journal import Segment
from ml_connector.domain.problems import Unpostable
from ml_connector.pipeline.journal import (
    invoice_reference,
    invoice_voucher,
    payment_voucher,
    reversal_voucher,
)
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.rules import Category, check_voucher
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import read_export

MAPPING = MappingConfig(
    credit_account="2460",
    cost_center_field="department",
    cost_center_segment_id=1,
    cost_center_length=4,
    default_segments={1: "0000", 2: "00"},
    project_segment_id=2,
    project_map={"P-2025-014": "14", "P-2025-009": "09"},
    tax_accounts={"1": "2710", "11": "2711"},
    bank_accounts={"DNB-1503.12.34567": "1920"},
    default_bank_account="1920",
)


@pytest.fixture(scope="module")
def invoices(samples_dir: Path) -> dict[str, Invoice]:
    path = next(samples_dir.glob("stampli_invoices_*.csv"))
    result = read_export(path, profile=BUILTIN_PROFILES["canonical"])
    assert result.status == "ok"
    return {inv.stampli_invoice_id or "": inv for inv in result.documents if isinstance(inv, Invoice)}


def test_every_sample_invoice_balances_exactly(invoices: dict[str, Invoice]) -> None:
    assert len(invoices) == 5
    for inv in invoices.values():
        v = invoice_voucher(inv, MAPPING, period="202503", transaction_date=inv.effective_posting_date)
        assert v.balanced, inv.invoice_number
        assert v.debit_total == abs(inv.total_amount)
        assert all(isinstance(x.debit, Decimal) and isinstance(x.credit, Decimal) for x in v.lines)
        assert {line.reference for line in v.lines} == {invoice_reference(inv)}
        assert all(inv.vendor_name in line.description for line in v.lines)
        assert all(inv.invoice_number in line.description for line in v.lines)


def test_three_line_invoice_debits_expenses_and_vat_per_code(invoices: dict[str, Invoice]) -> None:
    v = invoice_voucher(invoices["41877203"], MAPPING, period="202503", transaction_date=date(2025, 3, 3))
    by_account = {(ln.account, ln.subaccount): (ln.debit, ln.credit) for ln in v.lines}
    assert by_account[("6800", (Segment(1, "0200"), Segment(2, "00")))] == (Decimal("11560.00"), Decimal(0))
    assert by_account[("5990", (Segment(1, "0100"), Segment(2, "00")))] == (Decimal("4194.00"), Decimal(0))
    # the project P-2025-014 maps to segment 2 value 14
    assert by_account[("6540", (Segment(1, "0200"), Segment(2, "14")))] == (Decimal("9980.00"), Decimal(0))
    # 25 %
    assert by_account[("2710", (Segment(1, "0000"), Segment(2, "00")))] == (Decimal("5385.00"), Decimal(0))
    # 15 %
    assert by_account[("2711", (Segment(1, "0000"), Segment(2, "00")))] == (Decimal("629.10"), Decimal(0))
    assert by_account[("2460", (Segment(1, "0000"), Segment(2, "00")))] == (Decimal(0), Decimal("31748.10"))


def test_credit_note_mirrors_the_invoice(invoices: dict[str, Invoice]) -> None:
    cn = invoices["41877355"]
    assert cn.document_type == "CREDIT_NOTE"
    v = invoice_voucher(cn, MAPPING, period="202503", transaction_date=date(2025, 3, 7))
    credit_line = next(ln for ln in v.lines if ln.account == "2460")
    assert (credit_line.debit, credit_line.credit) == (Decimal("6237.50"), Decimal(0))
    expense = next(ln for ln in v.lines if ln.account == "6540")
    assert (expense.debit, expense.credit) == (Decimal(0), Decimal("4990.00"))
    assert v.balanced


def test_foreign_invoice_keeps_currency_and_rate(invoices: dict[str, Invoice]) -> None:
    sek = next(i for i in invoices.values() if i.currency == "SEK")
    v = invoice_voucher(sek, MAPPING, period="202503", transaction_date=sek.invoice_date)
    assert v.currency == "SEK"
    assert v.exchange_rate == sek.exchange_rate
    assert v.balanced


def test_unmapped_tax_code_and_project_are_mapping_problems(invoices: dict[str, Invoice]) -> None:
    bare = MappingConfig(credit_account="2460", default_segments={1: "0000", 2: "00"})
    with pytest.raises(Unpostable) as exc:
        invoice_voucher(invoices["41877219"], bare, period="202503", transaction_date=date(2025, 3, 5))
    [problem] = exc.value.problems
    assert problem.code == "tax_code_unmapped"
    assert problem.category == Category.MAPPING
    no_project = MappingConfig(
        credit_account="2460", project_segment_id=2, tax_accounts={"1": "2710", "11": "2711"}
    )
    with pytest.raises(Unpostable) as exc:
        invoice_voucher(invoices["41877203"], no_project, period="202503", transaction_date=date(2025, 3, 3))
    [problem] = exc.value.problems
    assert problem.code == "project_unmapped"
    assert problem.category == Category.MAPPING
    assert "P-2025-014" in problem.reason and str(exc.value) == problem.reason


def _md(**overrides: object) -> MasterData:
    accounts = {
        n: (True, {"allow_manual_entry": True}) for n in ("6800", "5990", "6540", "2710", "2711", "1920")
    }
    accounts["2460"] = (True, {"allow_manual_entry": True})
    segs: dict[str, tuple[bool, dict[str, object]]] = {
        f"1:{v}": (True, {}) for v in ("0000", "0100", "0200", "0300")
    }
    segs |= {"2:00": (True, {}), "2:14": (True, {})}
    base: dict[str, object] = {
        "company_id": "1234567",
        "accounts": accounts,
        "segment_values": segs,
        "suppliers": {"10023": (True, {})},
        "periods": {"202503": (True, {"closed_in_gl": False})},
        "currencies": {"NOK": (True, {"is_base": True})},
    }
    base.update(overrides)
    return MasterData(**base)  # type: ignore[arg-type]


def test_check_passes_then_names_the_missing_cost_center(invoices: dict[str, Invoice]) -> None:
    v = invoice_voucher(invoices["41877203"], MAPPING, period="202503", transaction_date=date(2025, 3, 3))
    assert check_voucher(v, _md(), MAPPING, supplier="10023") == []
    segs = {k: val for k, val in _md().segment_values.items() if k != "1:0200"}
    problems = check_voucher(v, _md(segment_values=segs), MAPPING, supplier="10023")
    assert [(p.category, p.code, p.missing) for p in problems] == [
        (Category.VISMA_MASTER_DATA, "segment_value_missing", (("segment_value", "1:0200"),))
    ]
    assert "cost center 0200" in problems[0].reason and "1234567" in problems[0].reason
    assert "create it in Visma" in problems[0].reason


def test_check_flags_supplier_control_account_and_inactive_account(invoices: dict[str, Invoice]) -> None:
    v = invoice_voucher(invoices["41877203"], MAPPING, period="202503", transaction_date=date(2025, 3, 3))
    md = _md(
        suppliers={},
        accounts={
            **_md().accounts,
            "2460": (True, {"allow_manual_entry": False, "control_account_module": "AP"}),
            "6800": (False, {}),
        },
    )
    codes = {p.code: p.category for p in check_voucher(v, md, MAPPING, supplier="10023")}
    assert codes == {
        "supplier_missing": Category.VISMA_MASTER_DATA,
        "account_no_manual_entry": Category.MAPPING,
        "account_inactive": Category.VISMA_MASTER_DATA,
    }


def test_payment_nets_credit_note_and_reversal_swaps_sides(tmp_path: Path) -> None:
    from ml_connector.domain.documents import DocumentType, PaymentApplication, Provenance

    pay = Payment(
        stampli_company_id="C100234",
        stampli_payment_id="90331870",
        payment_date=date(2025, 3, 17),
        payment_method="BANK_TRANSFER",
        payment_status="PAID",
        payment_currency="NOK",
        payment_amount=Decimal("25510.60"),
        vendor_id="10023",
        exported_at=None,
        applications=(
            PaymentApplication("41877203", "2025-1187", DocumentType.INVOICE, "NOK", Decimal("31748.10")),
            PaymentApplication(
                "41877355", "KN-2025-0042", DocumentType.CREDIT_NOTE, "NOK", Decimal("-6237.50")
            ),
        ),
        provenance=Provenance("/outbound/payments/p.csv", "0" * 64),
        bank_account="DNB-1503.12.34567",
    )
    v = payment_voucher(pay, MAPPING, period="202503", transaction_date=pay.payment_date)
    assert v.balanced
    assert [(ln.account, ln.debit, ln.credit) for ln in v.lines] == [
        ("2460", Decimal("31748.10"), 0),
        ("2460", 0, Decimal("6237.50")),
        ("1920", 0, Decimal("25510.60")),
    ]
    r = reversal_voucher(
        v, reference="SPV-90331870", period="202504", transaction_date=date(2025, 4, 1), why="void"
    )
    assert r.balanced
    assert [(ln.debit, ln.credit) for ln in r.lines] == [(ln.credit, ln.debit) for ln in v.lines]
    assert {ln.reference for ln in r.lines} == {"SPV-90331870"}


def test_visma_timestamps_are_read_in_the_company_zone() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ml_connector.adapters.visma.models import Account, in_utc

    oslo = ZoneInfo("Europe/Oslo")
    naive = datetime(2025, 3, 10, 9, 15)  # noqa: DTZ001 (naive on purpose: as Visma writes it)
    read = Account.from_dto({"accountCD": "6540", "lastModifiedDateTime": naive.isoformat()})
    aware = in_utc(read, oslo).last_modified  # once, at the client's edge
    assert aware is not None and aware.utcoffset() is not None
    assert aware.astimezone(ZoneInfo("UTC")).hour == 8  # CET is UTC+1 in March
