"""Seeds: ``demo`` (Fjordvarme AS, a Norwegian company matching the Stampli samples) and ``empty``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ml_connector.sim.visma.state import Branch, Company, Currency, Ledger, VismaState

SEEDS = ("demo", "empty")

# (number, description, type, class, options)
DEMO_ACCOUNTS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    (
        "1500",
        "Kundefordringer",
        "Asset",
        "RECEIVABLE",
        {"control_account_module": "AR", "allow_manual_entry": False},
    ),
    ("1920", "Bankinnskudd", "Asset", "BANK", {"cash_account": True, "currency": "NOK"}),
    ("1921", "Bankinnskudd valuta EUR", "Asset", "BANK", {"cash_account": True, "currency": "EUR"}),
    ("1922", "Bankinnskudd valuta SEK", "Asset", "BANK", {"cash_account": True, "currency": "SEK"}),
    (
        "2400",
        "Leverandørgjeld",
        "Liability",
        "PAYABLE",
        {"control_account_module": "AP", "allow_manual_entry": False},
    ),
    ("2460", "Leverandørgjeld clearing / Stampli", "Liability", "PAYABLE", {}),
    ("2700", "Utgående merverdiavgift, høy sats", "Liability", "VAT", {}),
    ("2710", "Inngående merverdiavgift, høy sats", "Liability", "VAT", {}),
    ("2711", "Inngående merverdiavgift, middels sats", "Liability", "VAT", {}),
    ("2712", "Inngående merverdiavgift, lav sats", "Liability", "VAT", {}),
    ("2720", "Inngående mva, omvendt avgiftsplikt (fradrag)", "Liability", "VAT", {}),
    ("2740", "Beregnet utgående mva, omvendt avgiftsplikt", "Liability", "VAT", {}),
    ("2780", "Påløpt arbeidsgiveravgift (gammel, ikke i bruk)", "Liability", "OTHER", {"active": False}),
    ("3000", "Salgsinntekt, avgiftspliktig", "Income", "SALES", {}),
    ("4300", "Innkjøp av varer for videresalg", "Expense", "COGS", {}),
    ("5000", "Lønn til ansatte", "Expense", "SALARY", {}),
    ("5990", "Annen personalkostnad (kantine, velferd)", "Expense", "PERSONNEL", {}),
    ("6100", "Frakt og transportkostnader", "Expense", "FREIGHT", {}),
    ("6300", "Leie lokaler", "Expense", "PREMISES", {}),
    ("6420", "Leie datasystemer / programvarelisenser", "Expense", "IT", {}),
    ("6540", "Inventar", "Expense", "EQUIPMENT", {}),
    ("6700", "Fremmed tjeneste (regnskap, revisjon)", "Expense", "SERVICES", {}),
    ("6790", "Annen fremmed tjeneste (konsulenter)", "Expense", "SERVICES", {}),
    ("6800", "Kontorrekvisita", "Expense", "OFFICE", {}),
    ("7140", "Reisekostnad, ikke oppgavepliktig", "Expense", "TRAVEL", {}),
    ("7770", "Bank- og kortgebyrer", "Expense", "BANKFEE", {}),
    ("8060", "Valutagevinst (agio)", "Income", "FINANCE", {}),
    ("8160", "Valutatap (disagio)", "Expense", "FINANCE", {}),
]

DEMO_DEPARTMENTS = [
    ("0000", "Felles"),
    ("0100", "Administrasjon"),
    ("0200", "Salg og kontor"),
    ("0300", "Logistikk"),
]
DEMO_PROJECTS = [("00", "Ingen prosjekt"), ("09", "Lønnssystem-integrasjon"), ("14", "Kontor Ålesund")]

DEMO_SUPPLIERS: list[dict[str, Any]] = [
    {
        "number": "10023",
        "name": "Nordlys Kontorrekvisita AS",
        "currencyId": "NOK",
        "vatRegistrationId": "NO987654321MVA",
        "corporateId": "987654321",
        "documentLanguage": "nb-NO",
        "address": ("Karl Johans gate 12", "0154", "Oslo", "NO", "Norway"),
        "contact": ("faktura@nordlys-kontor.no", "+47 22 33 44 55"),
        "class": ("DOM", "Innenlandske leverandører"),
        "terms": ("14", "14 dager netto"),
        "vatZone": ("01", "Innenlands"),
    },
    {
        "number": "10057",
        "name": "Bjørnstad Transport AS",
        "currencyId": "NOK",
        "vatRegistrationId": "NO912345678MVA",
        "corporateId": "912345678",
        "documentLanguage": "nb-NO",
        "address": ("Tillerbyen 7", "7092", "Tiller", "NO", "Norway"),
        "contact": ("regnskap@bjornstad-transport.no", "+47 73 10 20 30"),
        "class": ("DOM", "Innenlandske leverandører"),
        "terms": ("30", "30 dager netto"),
        "vatZone": ("01", "Innenlands"),
    },
    {
        "number": "20011",
        "name": "Åkesson & Söner AB",
        "currencyId": "SEK",
        "vatRegistrationId": "SE556677889901",
        "corporateId": "556677-8899",
        "documentLanguage": "sv-SE",
        "address": ("Södra Hamngatan 45", "411 06", "Göteborg", "SE", "Sweden"),
        "contact": ("faktura@akesson-soner.se", "+46 31 123 45 67"),
        "class": ("FOR", "Utenlandske leverandører"),
        "terms": ("30", "30 dager netto"),
        "vatZone": ("03", "Tjenester fra utlandet (omvendt avgiftsplikt)"),
    },
    {
        "number": "20034",
        "name": "Kärkkäinen Ohjelmistot Oy",
        "currencyId": "EUR",
        "vatRegistrationId": "FI12345678",
        "corporateId": "1234567-8",
        "documentLanguage": "fi-FI",
        "address": ("Hämeenkatu 20", "33200", "Tampere", "FI", "Finland"),
        "contact": ("laskutus@karkkainen.fi", "+358 3 123 4567"),
        "class": ("FOR", "Utenlandske leverandører"),
        "terms": ("30", "30 dager netto"),
        "vatZone": ("03", "Tjenester fra utlandet (omvendt avgiftsplikt)"),
    },
]

# (VAT id, description, type, rate %); the Stampli samples use 1 and 11 (docs/visma-ap.md)
DEMO_VAT_CODES: list[tuple[str, str, str, str]] = [
    ("1", "Inngående mva, høy sats", "Vat", "25"),
    ("11", "Inngående mva, middels sats", "Vat", "15"),
    ("13", "Inngående mva, lav sats", "Vat", "12"),
    ("3", "Utgående mva, høy sats", "Vat", "25"),
    ("86", "Tjenester kjøpt fra utlandet (omvendt avgiftsplikt)", "ReverseVat", "0"),
]
# (terms id, description, due days, visible to)
DEMO_CREDIT_TERMS: list[tuple[str, str, int, str]] = [
    ("14", "14 dager netto", 14, "AL"),
    ("30", "30 dager netto", 30, "AL"),
    ("10K", "10 dager kunde", 10, "CU"),
]

# Early 2025 periods closed in GL (the samples post in March 2025, period 202503, which is open).
DEMO_CLOSED_PERIODS = ("202501", "202502")


def supplier_fields(spec: dict[str, Any], state: VismaState) -> dict[str, Any]:
    """SupplierDto fields (minus the ones the state manages) for a compact supplier description."""
    line1, postal, city, country_id, country_name = spec["address"]
    email, phone = spec["contact"]
    return {
        "name": spec["name"],
        "status": spec.get("status", "Active"),
        "mainAddress": {
            "addressId": state.next_id(),
            "addressLine1": line1,
            "postalCode": postal,
            "city": city,
            "country": {"id": country_id, "name": country_name},
        },
        "mainContact": {"contactId": state.next_id(), "name": spec["name"], "email": email, "phone1": phone},
        "supplierClass": {"id": spec["class"][0], "description": spec["class"][1]},
        "creditTerms": {"id": spec["terms"][0], "description": spec["terms"][1]},
        "documentLanguage": spec["documentLanguage"],
        "currencyId": spec["currencyId"],
        "paymentMethod": {"id": "BANK", "description": "Bankoverføring"},
        "cashAccount": "1920",
        "chargeBearer": "Shared",
        "accountUsedForPayment": "IBAN" if country_id != "NO" else "BBAN",
        "paymentBy": "DueDate",
        "paymentLeadTime": 0,
        "paySeparately": False,
        "location": {"countryId": country_id, "id": "MAIN", "name": "Primary location"},
        "vatRegistrationId": spec["vatRegistrationId"],
        "corporateId": spec["corporateId"],
        "vatZone": {"id": spec["vatZone"][0], "description": spec["vatZone"][1]},
        "attributes": [],
        "supplierPaymentMethodDetails": [],
        "retainageApply": False,
        "landedCostSupplier": False,
        "currencyOverride": False,
        "currencyRateOverride": False,
    }


def _base(state: VismaState) -> None:
    now = state.clock.now()
    state.currencies["NOK"] = Currency("NOK", "Norske kroner", "kr", is_base=True)
    state.ledgers["L"] = Ledger(state.next_id(), "L", "Actual ledger", "Actual", "NOK", now)
    state.branches["1"] = Branch(
        state.next_id(),
        "1",
        state.company.name,
        ledger="L",
        currency_id="NOK",
        last_modified=now,
        corporate_id="923456780",
        vat_registration_id="NO923456780MVA",
    )
    state.add_segment(1, "Department", 4)
    state.add_segment(2, "Project", 2)


def seed_empty(state: VismaState) -> None:
    """Company identity, NOK, ledger L, branch 1 and the SUBACCOUNT segments without values."""
    _base(state)


def seed_demo(state: VismaState) -> None:
    _base(state)
    state.currencies["SEK"] = Currency("SEK", "Svenske kroner", "kr", rate_to_base=Decimal("1.0612"))
    state.currencies["EUR"] = Currency("EUR", "Euro", "€", rate_to_base=Decimal("11.6825"))
    for number, description, type_, account_class, options in DEMO_ACCOUNTS:
        state.add_account(number, description, type_, account_class, **options)
    for value, description in DEMO_DEPARTMENTS:
        state.add_segment_value(1, value, description)
    for value, description in DEMO_PROJECTS:
        state.add_segment_value(2, value, description)
    for department, _ in DEMO_DEPARTMENTS:
        state.ensure_subaccount((department, "00"))
    state.ensure_subaccount(("0100", "09"))
    state.ensure_subaccount(("0200", "14"))
    for spec in DEMO_SUPPLIERS:
        state.add_supplier(spec["number"], supplier_fields(spec, state))
    for vat_id, description, type_, rate in DEMO_VAT_CODES:
        state.set_vat_code(vat_id, description=description, type=type_, rate=Decimal(rate))
    for terms_id, description, days, visible in DEMO_CREDIT_TERMS:
        state.set_credit_term(terms_id, description=description, due_days=days, visible_to=visible)
    for year in (2025, 2026):
        for period in range(1, 13):
            state.add_period(year, period, closed_in_gl=f"{year}{period:02d}" in DEMO_CLOSED_PERIODS)


def build_state(seed: str, company: Company | None = None) -> VismaState:
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}; choose one of {', '.join(SEEDS)}")
    state = VismaState(company)
    if seed == "demo":
        seed_demo(state)
    else:
        seed_empty(state)
    return state
