"""The Visma client's VAT-code and credit-term reads against the simulator over HTTP, and the list
rules that decide what Stampli may offer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ml_connector import retry
from ml_connector.adapters.visma.models import CreditTerm, VatCode, parse_datetime
from ml_connector.config.model import MappingConfig
from ml_connector.masterdata.lists import SPECS, Catalog, content_hash, inactive
from tests.support.visma_sim import VismaSim
from tests.visma.test_client_sim import client_for

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
OSLO = ZoneInfo("Europe/Oslo")


async def test_vat_codes_and_credit_terms_are_read_whole_across_pages(
    visma_sim_factory: Callable[..., VismaSim],
) -> None:
    sim = visma_sim_factory(seed="demo", max_page_size=2)  # three credit terms: two pages
    sim._sim(
        "POST", "vat-codes", {"vatId": "5", "description": "Utgått", "notValidAfter": "2024-12-31T00:00:00"}
    )
    retry.set_testing(0.01)
    try:
        async with client_for(sim, page_size=2) as c:
            vat = {v.vat_id: v for v in await c.vat_codes()}
            terms = {t.terms_id: t for t in await c.credit_terms()}
    finally:
        retry.set_testing(None)
    assert vat["1"].rate == Decimal(25) and vat["1"].type == "Vat" and vat["1"].not_valid_after is None
    # the seed's 86 is reverse charge at the high rate: Visma computes the self-assessed VAT from it
    assert vat["86"].rate == Decimal(25) and vat["86"].type == "ReverseVat"
    assert vat["5"].not_valid_after == parse_datetime(
        "2024-12-31T00:00:00"
    )  # company-local, as Visma sends it
    assert (
        set(terms) == {"14", "30", "10K"} and terms["30"].due_days == 30 and terms["10K"].visible_to == "CU"
    )
    pages = [e.query_string for e in sim.exchanges if e.path == "/v1/creditTerm"]
    assert len(pages) == 2 and all("pageSize=2" in q for q in pages)


def _vat(vat_id: str, rate: str, until: datetime | None = None) -> VatCode:
    return VatCode(vat_id, f"VAT {vat_id}", "Vat", until, Decimal(rate), None)


def test_a_vat_code_is_offered_while_valid_and_bookable() -> None:
    mapping = MappingConfig(
        credit_account="2460",
        tax_accounts={"1": "2710", "2": "2700", "3": "2700"},
        reverse_charge={"14": ("2720", "2740")},
    )
    cat = Catalog(
        vat_codes=[
            _vat("1", "25"),
            _vat("14", "25"),
            _vat("13", "12"),  # no VAT account: an invoice with VAT on it would park
            _vat("0", "0"),  # nothing to book
            _vat("2", "25", parse_datetime("2026-03-01T23:59:00")),  # expired yesterday (Oslo time)
            _vat("3", "25", parse_datetime("2026-03-02T23:59:00")),  # valid until tonight
        ]
    )
    built = SPECS["vat_codes"].build(cat, mapping, OSLO, NOW)
    active = {k: r["active"] for k, r in built.rows.items()}
    assert active == {"1": "true", "14": "true", "13": "false", "0": "true", "2": "false", "3": "true"}
    assert built.notes == ["VAT code(s) 13 have no VAT account in mapping.tax_accounts; sent inactive"]
    assert built.rows["13"]["ratePercent"] == "12"


def test_in_supplier_ledger_mode_a_vat_code_is_offered_when_mapping_tax_codes_names_it() -> None:
    # Visma books the VAT of a supplier invoice on the code's own accounts (reverse charge too), so
    # VAT accounts do not matter there; a code the build cannot map parks, whatever its rate.
    mapping = MappingConfig(
        credit_account="2460",
        tax_accounts={"1": "2710"},
        tax_codes={"1": "1", "86": "86"},
    )
    cat = Catalog(vat_codes=[_vat("1", "25"), _vat("86", "25"), _vat("13", "12"), _vat("0", "0")])
    built = SPECS["vat_codes"].build(cat, mapping, OSLO, NOW, "supplier_invoice")
    assert {k: r["active"] for k, r in built.rows.items()} == {
        "1": "true",
        "86": "true",
        "13": "false",
        "0": "false",
    }
    assert built.notes == ["VAT code(s) 0, 13 have no Visma VAT code in mapping.tax_codes; sent inactive"]
    journal = SPECS["vat_codes"].build(cat, mapping, OSLO, NOW, "journal")
    assert {k: r["active"] for k, r in journal.rows.items()} == {
        "1": "true",
        "86": "false",
        "13": "false",
        "0": "true",
    }


def test_credit_terms_for_customers_only_are_not_offered_and_disabled_ones_are_inactive() -> None:
    def term(terms_id: str, visible: str | None) -> CreditTerm:
        return CreditTerm(terms_id, terms_id, visible, "N", 30, Decimal("2.50"), 10, None)

    cat = Catalog(
        credit_terms=[term("A", "AL"), term("V", "VE"), term("C", "CU"), term("D", "DS"), term("N", None)]
    )
    built = SPECS["credit_terms"].build(cat, MappingConfig(credit_account="2460"), OSLO, NOW)
    assert {k: r["active"] for k, r in built.rows.items()} == {
        "A": "true",
        "V": "true",
        "D": "false",
        "N": "true",
    }
    assert built.rows["A"]["discountPercent"] == "2.5" and built.rows["A"]["discountDays"] == "10"


def test_the_hash_ignores_last_modified_and_an_inactive_row_keeps_its_values() -> None:
    spec = SPECS["accounts"]
    row = {
        "accountNumber": "6800",
        "description": "Kontorrekvisita",
        "type": "Expense",
        "accountClass": "OFFICE",
        "active": "true",
        "lastModified": "2026-03-02T07:00:00Z",
    }
    assert content_hash(spec, row) == content_hash(spec, {**row, "lastModified": ""})
    assert content_hash(spec, row) != content_hash(spec, {**row, "description": "Kontor"})
    gone = inactive(spec, row)
    assert gone == {**row, "active": "false"} and content_hash(spec, gone) != content_hash(spec, row)
