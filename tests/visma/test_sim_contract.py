"""The contract checker itself: our contract is in the repository, catches drift and says what it skips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.adapters.visma import client
from ml_connector.entrypoints.cli.app import app
from ml_connector.sim.visma import Exchange
from tests.support import contract, openapi_crosscheck
from tests.support.contract import Contract, ContractValidator, load_contract
from tests.support.visma_sim import journal_body


def _exchange(
    method: str,
    path: str,
    *,
    status: int | None = 200,
    body: object = None,
    response: object = None,
    query: str = "",
    template: str | None = None,
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        query_string=query,
        request_headers={"authorization": "Bearer x", "content-type": "application/json"},
        request_body=b"" if body is None else json.dumps(body).encode(),
        template=template,
        status=status,
        response_headers={"content-type": "application/json"},
        response_body=b"" if response is None else json.dumps(response).encode(),
    )


@pytest.fixture(scope="module")
def validator() -> ContractValidator:
    return ContractValidator(load_contract())


def test_contract_is_in_the_repository_and_needs_no_shared_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(openapi_crosscheck.OPENAPI_DIR_ENV, "/nonexistent")
    assert contract.CONTRACT_FILE.parent == Path(__file__).resolve().parents[1] / "support"
    fresh = Contract(contract.CONTRACT_FILE)  # loads with Visma's files nowhere in sight
    used = {op.key for op in fresh.operations if op.used_by != "simulator tests"}
    assert {
        "GET /v1/account",
        "GET /v1/supplier",
        "POST /v2/journaltransaction",
        "POST /v2/journaltransaction/{journalTransactionNumber}/action/release",
    } <= used


def test_every_path_the_client_calls_is_in_the_contract() -> None:
    """A new call in the client without a contract entry fails here (and at its first exchange)."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(client.__file__).parent.glob("*.py"))
    # Whole string literals only: an f-string path is sent next to its template literal, which is checked.
    called = set(re.findall(r'(?<![fA-Za-z])"(/v\d/[A-Za-z/{}]+)"', source)) | {client.JOURNAL_PATH}
    assert called, "no Visma paths found in the client source"
    missing = sorted(path for path in called if not load_contract().find("GET", path)[1])
    assert missing == [], f"called but not in the contract: {missing}"


def test_nothing_the_contract_lists_is_also_left_outside_it() -> None:
    """An UNCOVERED prefix that matches a contract operation would let its exchanges go unchecked."""
    overlap = [
        f"{op.key} (UNCOVERED {prefix!r})"
        for op in load_contract().operations
        for prefix, _ in contract.UNCOVERED
        if op.template.startswith(prefix.rstrip("/"))
    ]
    assert overlap == [], f"remove these from tests/support/contract.py UNCOVERED: {overlap}"


def test_a_typo_in_the_contract_fails_when_it_loads(tmp_path: Path) -> None:
    broken = tmp_path / "c.yml"
    broken.write_text(contract.CONTRACT_FILE.read_text().replace("[Account]", "[Acount]", 1))
    with pytest.raises(ValueError, match="unknown type 'Acount'"):
        Contract(broken)


def test_missing_openapi_files_skip_the_cross_check_out_loud_unless_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(openapi_crosscheck.OPENAPI_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(openapi_crosscheck.REQUIRE_ENV, raising=False)
    notes = len(openapi_crosscheck.OUTCOME)
    with pytest.raises(pytest.skip.Exception, match="cross-check DID NOT RUN: no OpenAPI files"):
        openapi_crosscheck.run_crosscheck(load_contract())
    assert "DID NOT RUN" in openapi_crosscheck.OUTCOME[notes]  # the terminal summary line
    monkeypatch.setenv(openapi_crosscheck.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="ML_CONNECTOR_REQUIRE_VISMA_OPENAPI=1"):
        openapi_crosscheck.run_crosscheck(load_contract())
    del openapi_crosscheck.OUTCOME[notes:]  # these were rehearsals, not this run's cross-check


def test_default_openapi_folder_is_the_shared_sibling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(openapi_crosscheck.OPENAPI_DIR_ENV, raising=False)
    assert openapi_crosscheck.openapi_dir() == contract_repo().parent / "shared" / "visma-openapi"


def contract_repo() -> Path:
    return Path(__file__).resolve().parents[2]


def test_request_drift_is_caught(validator: ContractValidator) -> None:
    bad_field = _exchange(
        "POST",
        "/v2/journaltransaction",
        status=201,
        body=journal_body(
            [{"operation": "Insert", "accountNumber": {"value": "1"}, "debitAmount": {"value": 1}}]
        ),
    )
    assert [v.kind for v in validator.check(bad_field)] == ["request"]
    unwrapped = _exchange(
        "POST", "/v2/journaltransaction", status=201, body={**journal_body([]), "description": "not wrapped"}
    )
    assert [v.kind for v in validator.check(unwrapped)] == ["request"]
    missing = _exchange("POST", "/v2/journaltransaction", status=201, body={"description": {"value": "x"}})
    assert "'transactionDate' is a required property" in validator.check(missing)[0].detail
    bad_query = _exchange("GET", "/v1/account", query="pageSize=10", response=[])
    assert "pageSize" in validator.check(bad_query)[0].detail
    bad_value = _exchange(
        "GET", "/v2/journaltransaction", query="periodId=202503&pageNumber=one", response=[]
    )
    assert "pageNumber='one' is not integer" in validator.check(bad_value)[0].detail
    good = _exchange("GET", "/v2/journaltransaction", query="periodId=202503&pageNumber=1", response=[])
    assert validator.check(good) == []
    body_on_get = _exchange("GET", "/v1/currency", body={"x": 1}, response=[])
    assert [v.kind for v in validator.check(body_on_get)] == ["request"]


def test_response_drift_is_caught(validator: ContractValidator) -> None:
    # fields we do not read are Visma's business; fields we read must have our type
    extra = _exchange("GET", "/v1/account/1920", response={"accountCD": "1920", "accountNumber": "1920"})
    assert validator.check(extra) == []
    null = _exchange("GET", "/v1/account/1920", response={"accountCD": None})
    assert [v.kind for v in validator.check(null)] == ["response"]
    absent = _exchange("GET", "/v1/account/1920", response={"description": "no number"})
    assert "'accountCD' is a required property" in validator.check(absent)[0].detail
    wrong_type = _exchange("GET", "/v1/currency/NOK", response={"id": "NOK", "decimalPrecision": "2"})
    assert [v.kind for v in validator.check(wrong_type)] == ["response"]
    naive_time = _exchange(
        "GET", "/v1/ledger", response=[{"number": "L", "lastModifiedDateTime": "2024-02-12T13:37:00.533"}]
    )
    assert validator.check(naive_time) == []
    bad_time = _exchange(
        "GET", "/v1/ledger", response=[{"number": "L", "lastModifiedDateTime": "12.02.2024"}]
    )
    assert [v.kind for v in validator.check(bad_time)] == ["response"]
    body_on_create = _exchange(
        "POST", "/v2/journaltransaction", status=201, body=journal_body([]), response={}
    )
    assert [v.kind for v in validator.check(body_on_create)] == ["response"]


def test_statuses_and_uncovered_paths(validator: ContractValidator) -> None:
    assert (
        validator.check(_exchange("POST", "/v2/journaltransaction", status=201, body=journal_body([]))) == []
    )
    undeclared = _exchange("GET", "/v1/account/1920", status=302)
    assert [v.kind for v in validator.check(undeclared)] == ["undeclared-status"]
    error = _exchange("GET", "/v1/account/1", status=404, response={"message": "Account 1 not found."})
    assert validator.check(error) == []
    bad_error = _exchange("GET", "/v1/account/1", status=404, response={"detail": "nope"})
    assert [v.kind for v in validator.check(bad_error)] == ["error-body"]
    unknown = _exchange("GET", "/v1/journaltransaction")
    [violation] = validator.check(unknown)
    assert violation.kind == "unknown-path" and "visma_contract.yml" in violation.detail
    wrong_method = _exchange("DELETE", "/v1/account/1920")
    assert "method not in the contract" in validator.check(wrong_method)[0].detail
    before = sum(validator.uncovered.values())
    assert validator.check(_exchange("POST", "/connect/token", template="/connect/token")) == []
    assert sum(validator.uncovered.values()) == before + 1
    release = "/v2/journaltransaction/000123/action/release"
    assert (
        validator.check(_exchange("POST", release, response={"actionId": "a", "actionResult": "Done"})) == []
    )
    assert "not_in_spec" in validator.summary() and "outside the contract" in validator.summary()


def test_cli_help_documents_the_fault_spec() -> None:
    result = CliRunner().invoke(app, ["sim", "visma", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for word in ("--rate-limit", "--faults", "drop_after_commit", "token_ttl", "--tenant-id", "--company-id"):
        assert word in result.output
