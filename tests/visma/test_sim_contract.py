"""The contract checker itself: it must catch drift, fail loudly without the spec, and say what it skips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ml_connector.entrypoints.cli.app import app
from ml_connector.sim.visma import Exchange
from tests.support import contract
from tests.support.contract import ContractValidator, load_validator


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
    return load_validator()


def test_missing_openapi_folder_fails_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(contract.OPENAPI_DIR_ENV, str(tmp_path / "absent"))
    with pytest.raises(pytest.fail.Exception, match="VISMA OPENAPI FILES NOT FOUND"):
        load_validator()


def test_default_folder_is_the_shared_sibling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(contract.OPENAPI_DIR_ENV, raising=False)
    assert contract.openapi_dir() == contract.REPO.parent / "shared" / "visma-openapi"


def test_every_openapi_file_is_a_valid_document_for_openapi_core() -> None:
    files = sorted(contract.openapi_dir().glob("*.yml"))
    assert len(files) >= 11
    for file in files:
        spec = contract._load_spec(file)
        assert str(spec["openapi"]).startswith("3.")
        contract._openapi(spec, check_spec=True)  # raises on an invalid document


def test_request_drift_is_caught(validator: ContractValidator) -> None:
    bad_field = _exchange(
        "POST",
        "/v2/journaltransaction",
        status=201,
        body={"journalTransactionLines": [{"operation": "Insert", "debitAmount": {"value": 1}}]},
    )
    assert [v.kind for v in validator.check(bad_field)] == ["request"]
    unwrapped = _exchange("POST", "/v2/journaltransaction", status=201, body={"description": "not wrapped"})
    assert [v.kind for v in validator.check(unwrapped)] == ["request"]
    bad_query = _exchange("GET", "/v1/account", query="pageSize=10", response=[])
    assert "pageSize" in validator.check(bad_query)[0].detail
    good = _exchange("GET", "/v2/journaltransaction", query="periodId=202503&pageNumber=1", response=[])
    assert validator.check(good) == []


def test_response_drift_is_caught(validator: ContractValidator) -> None:
    extra = _exchange("GET", "/v1/account/1920", response={"accountCD": "1920", "accountNumber": "1920"})
    assert [v.kind for v in validator.check(extra)] == ["response"]
    null = _exchange("GET", "/v1/account/1920", response={"accountCD": None})
    assert [v.kind for v in validator.check(null)] == ["response"]
    wrong_type = _exchange("GET", "/v1/currency/NOK", response={"decimalPrecision": "2"})
    assert [v.kind for v in validator.check(wrong_type)] == ["response"]
    naive_time = _exchange(
        "GET", "/v1/ledger", response=[{"lastModifiedDateTime": "2024-02-12T13:37:00.533"}]
    )
    assert validator.check(naive_time) == []
    bad_time = _exchange("GET", "/v1/ledger", response=[{"lastModifiedDateTime": "12.02.2024"}])
    assert [v.kind for v in validator.check(bad_time)] == ["response"]


def test_statuses_and_uncovered_paths(validator: ContractValidator) -> None:
    assert validator.check(_exchange("POST", "/v2/journaltransaction", status=201, body={})) == []
    undeclared = _exchange("GET", "/v1/account/1920", status=302)
    assert [v.kind for v in validator.check(undeclared)] == ["undeclared-status"]
    error = _exchange("GET", "/v1/account/1", status=404, response={"message": "Account 1 not found."})
    assert validator.check(error) == []
    bad_error = _exchange("GET", "/v1/account/1", status=404, response={"detail": "nope"})
    assert [v.kind for v in validator.check(bad_error)] == ["error-body"]
    unknown = _exchange("GET", "/v1/journaltransaction")
    assert [v.kind for v in validator.check(unknown)] == ["unknown-path"]
    before = sum(validator.uncovered.values())
    assert validator.check(_exchange("GET", "/v1/subaccount", template="/v1/subaccount")) == []
    assert validator.check(_exchange("POST", "/connect/token", template="/connect/token")) == []
    assert sum(validator.uncovered.values()) == before + 2
    assert "uncovered" in validator.summary()


def test_cli_help_documents_the_fault_spec() -> None:
    result = CliRunner().invoke(app, ["sim", "visma", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for word in ("--rate-limit", "--faults", "drop_after_commit", "token_ttl", "--tenant-id", "--company-id"):
        assert word in result.output
