"""Simulator: master data reads (accounts, SUBACCOUNT, suppliers, periods, branch, ledger, currency)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx2
import pytest

from tests.support.visma_sim import VismaSim, decoded


@pytest.fixture
def api(visma_sim: VismaSim) -> Iterator[httpx2.Client]:
    client = visma_sim.api_client()
    yield client
    client.close()


def test_demo_chart_of_accounts(api: httpx2.Client) -> None:
    accounts = {a["accountCD"]: a for a in api.get("/v1/account").json()}
    assert {
        "1920",
        "2400",
        "2460",
        "2710",
        "2711",
        "2740",
        "5990",
        "6100",
        "6420",
        "6540",
        "6790",
        "6800",
        "7140",
    } <= set(accounts)
    assert accounts["2400"]["controlAccountModule"] == "AP"
    assert accounts["2400"]["allowManualEntry"] is False
    assert accounts["2460"]["allowManualEntry"] is True
    assert accounts["1920"]["cashAccount"] is True
    assert [a for a in accounts.values() if not a["active"]] == [accounts["2780"]]
    assert {(a["metadata"]["totalCount"], a["metadata"]["maxPageSize"]) for a in accounts.values()} == {
        (len(accounts), 1000)
    }
    active = api.get("/v1/account", params={"active": "true"}).json()
    assert len(active) == len(accounts) - 1


def test_account_get_has_etag_matching_timestamp(api: httpx2.Client) -> None:
    response = api.get("/v1/account/2460")
    assert response.headers["etag"] == f'"{response.json()["timeStamp"]}"'
    assert api.get("/v1/account/0000").status_code == 404


def test_last_modified_filters_need_a_condition_and_find_changes(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    assert api.get("/v1/account", params={"lastModifiedDateTime": "2020-01-01"}).status_code == 400
    before = api.get("/v1/account/6800").json()
    cutoff = max(a["lastModifiedDateTime"] for a in api.get("/v1/account").json())
    visma_sim.update_account("6800", description="Kontorrekvisita og trykksaker")
    changed = api.get(
        "/v1/account", params={"lastModifiedDateTime": cutoff, "lastModifiedDateTimeCondition": ">"}
    ).json()
    assert [a["accountCD"] for a in changed] == ["6800"]
    assert changed[0]["timeStamp"] != before["timeStamp"]


def test_add_and_deactivate_accounts_at_runtime(visma_sim: VismaSim, api: httpx2.Client) -> None:
    visma_sim.add_account("6560", "Rekvisita", accountClass="OFFICE")
    assert api.get("/v1/account/6560").json()["active"] is True
    visma_sim.deactivate_account("6560")
    assert api.get("/v1/account/6560").json()["active"] is False


def test_subaccount_dimension_segments_and_values(visma_sim: VismaSim, api: httpx2.Client) -> None:
    assert api.get("/v1/dimension").json() == ["SUBACCOUNT"]
    dimension = api.get("/v1/dimension/SUBACCOUNT").json()
    segments = {s["segmentId"]: s for s in dimension["segments"]}
    assert (segments[1]["description"], segments[1]["length"]) == ("Department", 4)
    assert (segments[2]["description"], segments[2]["length"]) == ("Project", 2)
    departments = {v["valueId"] for v in segments[1]["segmentValues"]}
    assert {"0000", "0100", "0200", "0300"} <= departments
    assert "0450" not in departments
    assert {"00", "14"} <= {v["valueId"] for v in segments[2]["segmentValues"]}

    visma_sim.add_segment_value(1, "0450", "Prosjektkontor Bergen")
    encoded = base64.b64encode(b"0450").decode()
    value = api.get(f"/v1/dimension/SUBACCOUNT/1/{encoded}")
    assert value.status_code == 200
    assert value.json()["description"] == "Prosjektkontor Bergen"
    by_public = api.get(f"/v1/dimension/SUBACCOUNT/1/publicid/{value.json()['publicId']}")
    assert by_public.json()["valueId"] == "0450"
    segment = api.get("/v1/dimension/SUBACCOUNT/1")
    assert segment.headers["etag"] == f'"{segment.json()["timeStamp"]}"'
    bare = api.get("/v1/dimension/SUBACCOUNT", params={"expandSegmentsValues": "false"}).json()
    assert all("segmentValues" not in s for s in bare["segments"])
    assert api.get("/v1/dimension/PROJECT").status_code == 404


def test_segment_values_can_be_added_through_the_api_with_if_match(api: httpx2.Client) -> None:
    segment = api.get("/v1/dimension/SUBACCOUNT/2")
    body = {"segmentValues": [{"operation": "Insert", "value": "21", "description": {"value": "Ny hall"}}]}
    assert (
        api.put("/v1/dimension/SUBACCOUNT/2", json=body, headers={"If-Match": '"stale"'}).status_code == 412
    )
    ok = api.put("/v1/dimension/SUBACCOUNT/2", json=body, headers={"If-Match": segment.headers["etag"]})
    assert ok.status_code == 204
    assert ok.headers["etag"] != segment.headers["etag"]
    assert "21" in {v["valueId"] for v in api.get("/v1/dimension/SUBACCOUNT/2").json()["segmentValues"]}


def test_subaccounts_page_with_metadata(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(max_page_size=2)
    with sim.api_client() as api:
        first = api.get("/v1/subaccount", params={"pageNumber": 1, "pageSize": 10}).json()
        total = first[0]["metadata"]["totalCount"]
        pages = [first] + [
            api.get("/v1/subaccount", params={"pageNumber": n, "pageSize": 2}).json()
            for n in range(2, (total + 1) // 2 + 2)
        ]
        one = api.get("/v1/subaccount/0100-09")
    assert len(first) == 2 and first[0]["metadata"]["maxPageSize"] == 2
    numbers = [s["subaccountNumber"] for page in pages for s in page]
    assert len(numbers) == total == len(set(numbers))
    assert pages[-1] == []
    assert [seg["segmentValue"] for seg in one.json()["segments"]] == ["0100", "09"]


def test_suppliers_of_the_samples(api: httpx2.Client) -> None:
    suppliers = {s["number"]: s for s in api.get("/v1/supplier").json()}
    assert {k: v["name"] for k, v in suppliers.items()} == {
        "10023": "Nordlys Kontorrekvisita AS",
        "10057": "Bjørnstad Transport AS",
        "20011": "Åkesson & Söner AB",
        "20034": "Kärkkäinen Ohjelmistot Oy",
    }
    assert suppliers["20011"]["currencyId"] == "SEK"
    assert suppliers["20034"]["currencyId"] == "EUR"
    assert suppliers["10023"]["vatRegistrationId"] == "NO987654321MVA"
    assert suppliers["10057"]["mainAddress"]["city"] == "Tiller"
    paged = api.get("/v1/supplier", params={"pageNumber": 2, "pageSize": 3}).json()
    assert [s["number"] for s in paged] == ["20034"]
    assert paged[0]["metadata"] == {"totalCount": 4, "maxPageSize": 1000}


def test_modified_supplier_bumps_last_modified_and_timestamp(visma_sim: VismaSim, api: httpx2.Client) -> None:
    before = api.get("/v1/supplier/10057")
    cutoff = max(s["lastModifiedDateTime"] for s in api.get("/v1/supplier").json())
    visma_sim.modify_supplier("10057", mainAddress={"addressLine1": "Ny vei 1"})
    visma_sim.add_supplier("10099", "Ny Leverandør AS", currencyId="NOK")
    after = api.get("/v1/supplier/10057")
    assert after.json()["mainAddress"] == {**before.json()["mainAddress"], "addressLine1": "Ny vei 1"}
    assert after.headers["etag"] != before.headers["etag"]
    changed = api.get(
        "/v1/supplier",
        params={
            "lastModifiedDateTime": cutoff.replace("T", " "),
            "lastModifiedDateTimeCondition": ">",
        },
    ).json()
    assert [s["number"] for s in changed] == ["10057", "10099"]


def test_financial_periods(visma_sim: VismaSim, api: httpx2.Client) -> None:
    periods = {p["period"]: p for p in api.get("/v1/financialPeriod").json()}
    assert len(periods) == 24
    assert periods["202501"]["closedInGeneralLedger"] is True
    assert periods["202503"]["closedInGeneralLedger"] is False
    assert periods["202503"]["startDate"] == "2025-03-01T00:00:00"
    assert periods["202502"]["endDate"] == "2025-02-28T00:00:00"
    later = api.get("/v1/financialPeriod", params={"greaterThanValue": "202610"}).json()
    assert [p["period"] for p in later] == ["202611", "202612"]
    visma_sim.close_period("202503")
    assert api.get("/v1/financialPeriod/202503").json()["closedInGeneralLedger"] is True
    assert api.get("/v1/financialPeriod/203001").status_code == 404


def test_branch_ledger_and_currencies(api: httpx2.Client) -> None:
    branch = api.get("/v1/branch/1").json()
    assert branch["ledger"] == {"id": "L", "description": "Actual ledger"}
    assert branch["currency"]["id"] == "NOK"
    assert [b["number"] for b in api.get("/v1/branch").json()] == ["1"]
    ledgers = api.get("/v1/ledger").json()
    assert [(x["number"], x["balanceType"]) for x in ledgers] == [("L", "Actual")]
    currencies = {c["id"]: c for c in api.get("/v1/currency").json()}
    assert set(currencies) == {"NOK", "SEK", "EUR"}
    assert [c for c in currencies if currencies[c]["isBaseCurrency"]] == ["NOK"]
    assert api.get("/v1/currency/EUR").json()["symbol"] == "€"


def test_empty_seed_has_structure_but_no_data(visma_sim_factory: Callable[..., VismaSim]) -> None:
    sim = visma_sim_factory(seed="empty")
    with sim.api_client() as api:
        assert api.get("/v1/account").json() == []
        assert api.get("/v1/supplier").json() == []
        assert len(api.get("/v1/dimension/SUBACCOUNT").json()["segments"]) == 2
        sim.add_account("2460", "Clearing", type="Liability")
        sim.add_period(2025, 3)
        assert decoded(api.get("/v1/account/2460"))["type"] == "Liability"
        assert api.get("/v1/financialPeriod/202503").status_code == 200
