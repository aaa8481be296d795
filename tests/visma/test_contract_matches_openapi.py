"""Our Visma contract (tests/support/visma_contract.yml) agrees with Visma's published OpenAPI files.

Runs when the files are present (../shared/visma-openapi or ML_CONNECTOR_VISMA_OPENAPI_DIR; CI always
has them and sets ML_CONNECTOR_REQUIRE_VISMA_OPENAPI=1). Without them the test is skipped with the reason,
and the run's terminal summary says that the cross-check did not run.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.contract import CONTRACT_FILE, Contract, load_contract
from tests.support.openapi_crosscheck import disagreements, openapi_dir, run_crosscheck

# Deliberate mistakes, and the disagreement the cross-check must report for each (proves it is not vacuous).
_MISTAKES = {
    ("accountCD!: string", "accountCd!: string"): "GET /v1/account -> 200[].accountCd: field not in",
    ("decimalPrecision: integer", "decimalPrecision: string"): (
        "GET /v1/currency -> 200[].decimalPrecision: we use string, Visma's file says integer"
    ),
    ("periodId: string", "periodID: string"): "GET /v2/journaltransaction query periodID: parameter not in",
    ("operation!: enum(Insert)", "operation!: enum(Insert|Upsert)"): (
        "POST /v2/journaltransaction body.journalTransactionLines[].operation: values ['Upsert'] are not in"
    ),
    ("exchangeRate: Value<number>", "exchangeRate: Value<string>"): (
        "POST /v2/journaltransaction body.exchangeRate.value: we use string, Visma's file says number"
    ),
    ("{201: empty}", "{201: empty, 204: empty}"): "POST /v2/journaltransaction -> 204: status not in",
    ("GET /v1/ledger:", "GET /v1/ledgers:"): "GET /v1/ledgers: path not in",
    ("startDate: date-time", "startDate: date"): "GET /v1/financialPeriod -> 200[].startDate: ",
    ("supplierReference: Value<string>", "supplierRef: Value<string>"): (
        "POST /v1/supplierInvoice body.supplierRef: field not in"
    ),
    ("postPeriod: string  # MMYYYY", "postPeriod: integer  # MMYYYY"): (
        "GET /v1/supplierInvoice -> 200[].postPeriod: we use integer, Visma's file says string"
    ),
    ("/v1/supplierInvoice/documentType/{documentType}", "/v1/supplierInvoice/type/{documentType}"): (
        "POST /v1/supplierInvoice/type/{documentType}/{invoiceNumber}/attachment: path not in"
    ),
    ("    paymentRef: Value<string>", "    paymentReference: Value<string>"): (
        "POST /v1/supplierPayment body.paymentReference: field not in"
    ),
    ("docType: enum(Invoice|CreditAdj|DebitAdj)", "docType: enum(Invoice|CreditAdj|DebitAdj|Check)"): (
        "GET /v1/supplierPayment -> 200[].paymentLines[].docType: values ['Check'] are not in"
    ),
}


def test_our_visma_contract_agrees_with_vismas_published_openapi_files(tmp_path: Path) -> None:
    problems = run_crosscheck(load_contract())
    assert problems == [], "our contract disagrees with Visma's files:\n" + "\n".join(problems)

    text = CONTRACT_FILE.read_text(encoding="utf-8")
    for (right, wrong), expected in _MISTAKES.items():
        assert right in text, f"the mistake fixture no longer matches the contract: {right!r}"
        broken = tmp_path / "broken.yml"
        broken.write_text(text.replace(right, wrong, 1), encoding="utf-8")
        found = disagreements(Contract(broken), openapi_dir())
        assert any(line.startswith(expected) for line in found), (wrong, found)
