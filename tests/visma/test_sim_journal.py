"""Simulator: journal transactions v2 (create, read, list by lines, release) and their validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from tests.support.visma_sim import VismaSim, decoded, journal_body, journal_line, post_json

URL = "/v2/journaltransaction"


def balanced_lines(amount: str = "31748.10", reference: str = "STAMPLI-41877203") -> list[dict[str, Any]]:
    return [
        journal_line("6800", debit=amount, department="0200", reference=reference, description="Kopipapir"),
        journal_line("2460", credit=amount, reference=reference, description="Nordlys Kontorrekvisita AS"),
    ]


@pytest.fixture
def api(visma_sim: VismaSim) -> Iterator[httpx2.Client]:
    client = visma_sim.api_client()
    yield client
    client.close()


def test_create_returns_201_location_etag_and_empty_body(visma_sim: VismaSim, api: httpx2.Client) -> None:
    response = post_json(api, URL, journal_body(balanced_lines()))
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"] == f"{visma_sim.api_url}/v2/journaltransaction/000001"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')

    fetched = api.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == etag
    batch = decoded(fetched)
    assert f'"{batch["timeStamp"]}"' == etag
    assert batch["batchNumber"] == "000001"
    assert batch["status"] == "Balanced"
    assert batch["financialPeriod"] == "202503"
    assert batch["postPeriod"] == "032025"
    assert batch["ledger"] == "L" and batch["branch"] == "1"
    assert [ln["referenceNumber"] for ln in batch["journalTransactionLines"]] == ["STAMPLI-41877203"] * 2
    first = batch["journalTransactionLines"][0]
    assert first["debitAmountInCurrency"] == Decimal("31748.10")
    assert first["subaccount"]["subaccountNumber"] == "0200-00"
    assert batch["debitTotal"] == batch["creditTotal"] == Decimal("31748.10")


def test_money_is_exact_on_the_wire(visma_sim: VismaSim, api: httpx2.Client) -> None:
    lines = [
        journal_line("6800", debit="0.10"),
        journal_line("6800", debit="0.20"),
        journal_line("2460", credit="0.30"),
    ]
    assert post_json(api, URL, journal_body(lines)).status_code == 201
    raw = api.get(f"{URL}/000001").text
    assert '"debitTotalInCurrency":0.30' in raw  # never 0.30000000000000004
    assert visma_sim.journal()[0]["status"] == "Balanced"


def test_foreign_currency_converts_to_base_with_the_given_rate(api: httpx2.Client) -> None:
    body = journal_body(
        [journal_line("6420", debit="1980.00"), journal_line("2460", credit="1980.00")],
        currency="EUR",
        exchangeRate=Decimal("11.6825"),
    )
    assert post_json(api, URL, body).status_code == 201
    batch = decoded(api.get(f"{URL}/000001"))
    assert batch["exchangeRate"] == Decimal("11.6825")
    assert batch["journalTransactionLines"][0]["debitAmount"] == Decimal("23131.35")
    assert batch["journalTransactionLines"][0]["debitAmountInCurrency"] == Decimal("1980.00")


BAD_CASES = [
    ("unknown account", {"account": "9999"}, "Account '9999' does not exist"),
    ("inactive account", {"account": "2780"}, "Account '2780' is inactive"),
    ("control account", {"account": "2400"}, "control account for module AP"),
    ("unknown department", {"department": "0450"}, "'0450' is not a valid value for segment 1"),
    ("unknown project", {"project": "77"}, "'77' is not a valid value for segment 2"),
    ("closed period", {"period": "202501"}, "closed in General Ledger"),
    ("unknown period", {"period": "202712"}, "does not exist"),
    ("debit and credit", {"both": True}, "not both"),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_create_rejects_invalid_batches_with_400_message(
    visma_sim: VismaSim, api: httpx2.Client, case: str, change: dict[str, Any], message: str
) -> None:
    first = journal_line(
        change.get("account", "6800"),
        debit="100.00",
        department=change.get("department", "0100"),
        project=change.get("project", "00"),
    )
    if change.get("both"):
        first["creditAmountInCurrency"] = {"value": Decimal("5.00")}
    body = journal_body([first, journal_line("2460", credit="100.00")], period=change.get("period", "202503"))
    response = post_json(api, URL, body)
    assert response.status_code == 400, case
    assert message in response.json()["message"]
    assert visma_sim.journal() == []


def test_inactive_segment_value_is_rejected_and_a_new_value_is_accepted(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    visma_sim.add_segment_value(1, "0900", "Avviklet avdeling", active=False)
    inactive = journal_body(
        [journal_line("6800", debit="1", department="0900"), journal_line("2460", credit="1")]
    )
    response = post_json(api, URL, inactive)
    assert response.status_code == 400
    assert "inactive" in response.json()["message"]

    department = journal_body(
        [journal_line("6800", debit="1", department="0450"), journal_line("2460", credit="1")]
    )
    assert post_json(api, URL, department).status_code == 400
    visma_sim.add_segment_value(1, "0450", "Prosjektkontor Bergen")
    assert post_json(api, URL, department).status_code == 201


def test_closing_and_reopening_a_period_while_running(visma_sim: VismaSim, api: httpx2.Client) -> None:
    visma_sim.close_period("202503")
    assert post_json(api, URL, journal_body(balanced_lines())).status_code == 400
    visma_sim.open_period("202503")
    assert post_json(api, URL, journal_body(balanced_lines())).status_code == 201


def test_release_checks_if_match_and_balance(visma_sim: VismaSim, api: httpx2.Client) -> None:
    assert post_json(api, URL, journal_body(balanced_lines())).status_code == 201
    etag = api.get(f"{URL}/000001").headers["etag"]

    mismatch = api.post(f"{URL}/000001/action/release", headers={"If-Match": '"AAAAAAAAAAA="'})
    assert mismatch.status_code == 412
    assert mismatch.content == b""

    released = api.post(f"{URL}/000001/action/release", headers={"If-Match": etag})
    assert released.status_code == 200
    assert released.json()["actionResult"] == "Done"
    assert released.headers["etag"] != etag
    assert decoded(api.get(f"{URL}/000001"))["status"] == "Released"
    again = api.post(f"{URL}/000001/action/release")
    assert again.status_code == 400

    unbalanced = journal_body([journal_line("6800", debit="10.00"), journal_line("2460", credit="9.99")])
    assert post_json(api, URL, unbalanced).status_code == 201
    stored = decoded(api.get(f"{URL}/000002"))
    assert (stored["status"], stored["hold"]) == ("Hold", True)
    refused = api.post(f"{URL}/000002/action/release")
    assert refused.status_code == 400
    assert "out of balance" in refused.json()["message"]


def test_get_unknown_batch_is_404(api: httpx2.Client) -> None:
    assert api.get(f"{URL}/424242").status_code == 404


def test_list_needs_period_or_last_modified(api: httpx2.Client) -> None:
    response = api.get(URL)
    assert response.status_code == 400
    assert "periodId" in response.json()["message"]


def test_list_pages_count_lines_and_split_batches(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(journal_max_page_size=3)
    with sim.api_client() as api:
        first = [
            journal_line("6800", debit="5", reference="A"),
            journal_line("2460", credit="5", reference="A"),
        ]
        second = [
            journal_line("6800", debit="3", reference="B"),
            journal_line("6100", debit="4", reference="B"),
            journal_line("2460", credit="7", reference="B"),
        ]
        assert post_json(api, URL, journal_body(first)).status_code == 201
        assert post_json(api, URL, journal_body(second)).status_code == 201
        page1 = decoded(api.get(URL, params={"periodId": "202503", "pageNumber": 1, "pageSize": 50}))
        page2 = decoded(api.get(URL, params={"periodId": "202503", "pageNumber": 2, "pageSize": 50}))
        page3 = decoded(api.get(URL, params={"periodId": "202503", "pageNumber": 3, "pageSize": 50}))
    # pageSize 50 is clamped to maxPageSize 3; totalCount counts lines (5), not batches (2)
    assert [(b["batchNumber"], len(b["journalTransactionLines"])) for b in page1] == [
        ("000001", 2),
        ("000002", 1),
    ]
    assert [(b["batchNumber"], len(b["journalTransactionLines"])) for b in page2] == [("000002", 2)]
    assert page3 == []
    assert {(b["metadata"]["totalCount"], b["metadata"]["maxPageSize"]) for b in page1 + page2} == {(5, 3)}
    merged: dict[str, list[int]] = {}
    for batch in page1 + page2:
        merged.setdefault(batch["batchNumber"], []).extend(
            ln["lineNumber"] for ln in batch["journalTransactionLines"]
        )
    assert merged == {"000001": [1, 2], "000002": [1, 2, 3]}


def test_list_filters_by_last_modified_and_status(visma_sim: VismaSim, api: httpx2.Client) -> None:
    assert post_json(api, URL, journal_body(balanced_lines())).status_code == 201
    cutoff = decoded(api.get(f"{URL}/000001"))["lastModifiedDateTime"]
    assert post_json(api, URL, journal_body(balanced_lines(reference="second"))).status_code == 201
    newer = decoded(api.get(URL, params={"lastModifiedDateTime": cutoff}))
    assert [b["batchNumber"] for b in newer] == ["000001", "000002"]  # >= cutoff
    api.post(f"{URL}/000002/action/release")
    balanced = decoded(api.get(URL, params={"periodId": "202503", "status": "Balanced"}))
    assert [b["batchNumber"] for b in balanced] == ["000001"]
    other_period = decoded(api.get(URL, params={"periodId": "202504"}))
    assert other_period == []


def test_sim_journal_lists_every_batch_with_all_lines(visma_sim: VismaSim, api: httpx2.Client) -> None:
    assert post_json(api, URL, journal_body(balanced_lines())).status_code == 201
    journal = visma_sim.journal()
    assert len(journal) == 1
    assert [ln["accountNumber"] for ln in journal[0]["journalTransactionLines"]] == ["6800", "2460"]
