"""pytest plugin: the Visma.net simulator over real HTTP on loopback, with contract validation.

Fixtures
  ``visma_sim``          a running simulator (seed ``demo``), fresh per test.
  ``visma_sim_factory``  ``factory(**SimulatorOptions fields)`` -> another running simulator, e.g.
                         ``visma_sim_factory(rate_limit="5/1", faults="drop_next=1")``.

Every request the simulator serves is recorded; at teardown each exchange is validated against the
project's Visma contract (tests/support/visma_contract.yml, checked by tests/support/contract.py) and the
test errors if anything drifted. A test that sends
non-conforming requests on purpose calls ``sim.take_violations()`` and asserts on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from ml_connector.sim.visma import Exchange, SimulatorOptions, SimulatorServer, jsonio
from tests.support import openapi_crosscheck
from tests.support.contract import ContractValidator, Violation, load_validator

_VALIDATORS_USED: list[ContractValidator] = []


class VismaSim:
    """A running simulator plus helpers for its ``/_sim/`` endpoints."""

    def __init__(self, server: SimulatorServer, validator: ContractValidator) -> None:
        self.server = server
        self.validator = validator
        self.exchanges: list[Exchange] = []
        self._checked = 0
        self._violations: list[Violation] = []
        self._lock = threading.Lock()
        server.simulator.observers.append(self._record)
        self.http = httpx2.Client(base_url=server.api_url, timeout=10.0)

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # ------------------------------------------------------------------ identity

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def token_url(self) -> str:
        return self.server.token_url

    @property
    def client_id(self) -> str:
        return self.server.client_id

    @property
    def client_secret(self) -> str:
        return self.server.client_secret

    @property
    def tenant_id(self) -> str:
        return self.server.tenant_id

    @property
    def customer_tenant_id(self) -> str:
        return self.server.simulator.company.customer_tenant_id

    @property
    def company_id(self) -> str:
        return self.server.company_id

    # ------------------------------------------------------------------ convenience for raw-HTTP tests

    def token(self, tenant_id: str | None = None) -> str:
        response = self.http.post(
            "/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "tenant_id": tenant_id or self.tenant_id,
                "scope": "vismanet_erp_service_api:read vismanet_erp_service_api:create "
                "vismanet_erp_service_api:update vismanet_erp_service_api:delete",
            },
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api_headers(self, token: str | None = None) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token or self.token()}",
            "ipp-company-id": self.company_id,
            "Accept": "application/json",
        }

    def api_client(self) -> httpx2.Client:
        """An httpx2 client with a fresh token and the company header (for simulator tests)."""
        return httpx2.Client(base_url=self.api_url, headers=self.api_headers(), timeout=10.0)

    # ------------------------------------------------------------------ /_sim/ endpoints

    def _sim(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"/_sim/{path}", json=body)
        if response.status_code >= 400:
            raise AssertionError(f"/_sim/{path} -> {response.status_code}: {response.text}")
        return response.json()

    def config(self) -> dict[str, Any]:
        return dict(self._sim("GET", "config"))

    def stats(self) -> dict[str, Any]:
        return dict(self._sim("GET", "stats"))

    def reset_stats(self) -> dict[str, Any]:
        return dict(self._sim("POST", "stats/reset"))

    def journal(self) -> list[dict[str, Any]]:
        return list(self._sim("GET", "journal"))

    def reset(self, seed: str = "demo") -> None:
        self._sim("POST", "reset", {"seed": seed})

    def add_account(self, number: str, description: str, type: str = "Expense", **fields: Any) -> Any:
        return self._sim(
            "POST", "accounts", {"number": number, "description": description, "type": type, **fields}
        )

    def update_account(self, number: str, **fields: Any) -> Any:
        return self._sim("PATCH", f"accounts/{number}", fields)

    def deactivate_account(self, number: str) -> Any:
        return self.update_account(number, active=False)

    def add_segment_value(
        self, segment_id: int, value_id: str, description: str = "", active: bool = True
    ) -> Any:
        body = {"segmentId": segment_id, "valueId": value_id, "description": description or value_id}
        return self._sim("POST", "segment-values", {**body, "active": active})

    def add_period(self, year: int, period: int, closed: bool = False) -> Any:
        return self._sim("POST", "periods", {"year": year, "period": period, "closed": closed})

    def close_period(self, period_id: str) -> Any:
        return self._sim("POST", f"periods/{period_id}/close")

    def open_period(self, period_id: str) -> Any:
        return self._sim("POST", f"periods/{period_id}/open")

    def add_supplier(self, number: str, name: str, **fields: Any) -> Any:
        return self._sim("POST", "suppliers", {"number": number, "name": name, **fields})

    def modify_supplier(self, number: str, **fields: Any) -> Any:
        return self._sim("PATCH", f"suppliers/{number}", fields)

    def close_supplier_ledger(self, period_id: str) -> Any:
        """``closedInSupplierLedger`` for one period (the general ledger stays as it is)."""
        return self._sim("POST", f"periods/{period_id}/close-supplier-ledger")

    def open_supplier_ledger(self, period_id: str) -> Any:
        return self._sim("POST", f"periods/{period_id}/open-supplier-ledger")

    def journal_attachments(self, number: str) -> list[dict[str, Any]]:
        """A batch's attachments with each revision's size and sha256."""
        return list(self._sim("GET", f"journal/{number}/attachments"))

    def supplier_ledger(self) -> dict[str, Any]:
        """Switches and every supplier document with warnings and attachment revisions (size, sha256)."""
        return dict(self._sim("GET", "supplier-ledger"))

    def set_supplier_ledger(self, **switches: Any) -> dict[str, Any]:
        """``holdOnEntry``, ``duplicateReference`` (warning|error), ``release`` (done|failed|queued)."""
        return dict(self._sim("POST", "supplier-ledger", switches))

    def supplier_payments(self) -> list[dict[str, Any]]:
        """Every supplier payment (and VoidPayment) as its SupplierPaymentDto."""
        return list(self._sim("GET", "supplier-payments")["payments"])

    def add_currency_rate(self, currency: str, rate: str, effective: str, **fields: Any) -> dict[str, Any]:
        """One more rate of ``GET /v2/currencyrate`` (to the base currency, rate type SPOT by default)."""
        body = {"fromCurrencyId": currency, "rate": rate, "effectiveDate": effective, **fields}
        return dict(self._sim("POST", "currency-rates", body))

    def set_faults(self, spec: str | None = None, *, reset: bool = False) -> dict[str, Any]:
        return dict(self._sim("POST", "faults", {"spec": spec, "reset": reset}))

    def faults(self) -> dict[str, Any]:
        return dict(self._sim("GET", "faults"))

    def set_rate_limit(self, spec: str) -> Any:
        return self._sim("POST", "rate-limit", {"spec": spec})

    def expire_tokens(self) -> int:
        return int(self._sim("POST", "tokens/expire")["expired"])

    # ------------------------------------------------------------------ contract

    def contract_violations(self) -> list[Violation]:
        """Validate the exchanges recorded since the last call; return every violation so far."""
        with self._lock:
            pending = self.exchanges[self._checked :]
            self._checked = len(self.exchanges)
        for exchange in pending:
            self._violations += self.validator.check(exchange)
        return list(self._violations)

    def take_violations(self) -> list[Violation]:
        """Return and forget the violations so far (for tests that break the contract on purpose)."""
        found = self.contract_violations()
        self._violations = []
        return found

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def visma_sim_factory() -> Iterator[Callable[..., VismaSim]]:
    validator = load_validator()
    if validator not in _VALIDATORS_USED:
        _VALIDATORS_USED.append(validator)
    started: list[VismaSim] = []

    def factory(**options: Any) -> VismaSim:
        server = SimulatorServer(SimulatorOptions(**options)).start_in_thread()
        sim = VismaSim(server, validator)
        started.append(sim)
        return sim

    yield factory
    problems: list[str] = []
    for sim in started:
        sim.close()
        problems += [str(v) for v in sim.contract_violations()]
    if problems:
        pytest.fail(
            "Visma contract drift (request or response does not match tests/support/visma_contract.yml):\n"
            + "\n".join(problems),
            pytrace=False,
        )


@pytest.fixture
def visma_sim(visma_sim_factory: Callable[..., VismaSim]) -> VismaSim:
    return visma_sim_factory(seed="demo")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for validator in _VALIDATORS_USED:
        terminalreporter.write_sep("-", "Visma contract")
        terminalreporter.write_line(validator.summary())
    for note in openapi_crosscheck.OUTCOME:  # said out loud: a skipped cross-check is never silent
        ran = "DID NOT RUN" not in note
        terminalreporter.write_sep("-", "Visma OpenAPI cross-check", green=ran, yellow=not ran, bold=not ran)
        terminalreporter.write_line(note, green=ran, yellow=not ran, bold=not ran)


def journal_line(
    account: str,
    *,
    debit: str | None = None,
    credit: str | None = None,
    department: str = "0000",
    project: str = "00",
    reference: str = "REF-1",
    description: str | None = None,
) -> dict[str, Any]:
    """A ``JournalTransactionLineUpdateDto`` in wire form (amounts are JSON numbers via Decimal)."""
    line: dict[str, Any] = {
        "operation": "Insert",
        "accountNumber": {"value": account},
        "subaccount": [
            {"segmentId": 1, "segmentValue": department},
            {"segmentId": 2, "segmentValue": project},
        ],
        "referenceNumber": {"value": reference},
    }
    if description is not None:
        line["transactionDescription"] = {"value": description}
    if debit is not None:
        line["debitAmountInCurrency"] = {"value": Decimal(debit)}
    if credit is not None:
        line["creditAmountInCurrency"] = {"value": Decimal(credit)}
    return line


def journal_body(
    lines: list[dict[str, Any]],
    *,
    period: str = "202503",
    date: str = "2025-03-03T00:00:00",
    currency: str = "NOK",
    description: str = "Test batch",
    hold: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A ``JournalTransactionUpdateDto``; ``extra`` values are wrapped as ``{"value": ...}``."""
    body: dict[str, Any] = {
        "transactionDate": {"value": date},
        "financialPeriod": {"value": period},
        "currencyId": {"value": currency},
        "description": {"value": description},
        "hold": {"value": hold},
        "journalTransactionLines": lines,
    }
    body.update({key: {"value": value} for key, value in extra.items()})
    return body


def post_json(client: httpx2.Client, url: str, body: Any, **kwargs: Any) -> httpx2.Response:
    """POST a body containing Decimals as exact JSON numbers."""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return client.post(url, content=jsonio.dumps(body).encode(), headers=headers, **kwargs)


def decoded(response: httpx2.Response) -> Any:
    """A response body parsed with Decimal for every non-integer number."""
    return jsonio.loads(response.content)
