"""Journal transactions over MockTransport: create, ambiguity, release, paging, lookup, reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx2
import pytest

from ml_connector.adapters.visma import wire
from ml_connector.domain.problems import Category
from ml_connector.errors import (
    AmbiguousDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from tests.visma.test_client_support import (
    FakeVisma,
    ambiguous_create_answers,
    fast_retries,
    json_response,
    voucher,
)

CREATED = {"Location": "https://api.test/v2/journaltransaction/000123", "ETag": '"AAAAAAAbK9k="'}


def decimal_response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status,
        content=wire.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def created() -> httpx2.Response:
    return json_response(201, None, CREATED)


async def test_create_sends_exact_decimals_and_reads_location_and_etag() -> None:
    fake = FakeVisma()
    fake.route("POST", "/v2/journaltransaction", created())
    async with fake.client() as c:
        result = await c.create_journal(voucher(amount="31748.10"))
    assert result.batch_number == "000123"
    assert result.etag == '"AAAAAAAbK9k="'
    assert result.location == CREATED["Location"]
    (req,) = fake.api_requests("POST")
    assert req.headers["content-type"] == "application/json"
    assert b'"debitAmountInCurrency":{"value":31748.10}' in req.content
    body = json.loads(req.content, parse_float=Decimal)
    assert body["journalTransactionLines"][1]["creditAmountInCurrency"]["value"] == Decimal("31748.10")


@pytest.mark.parametrize(
    "entry",
    [
        *ambiguous_create_answers(),
        json_response(502),
        httpx2.RemoteProtocolError("Server disconnected without sending a response."),
        json_response(202, {"id": "x", "stateLocation": "y"}),
    ],
)
async def test_create_with_unknown_outcome_is_ambiguous_and_never_resent(entry: object) -> None:
    fake = FakeVisma()
    fake.route("POST", "/v2/journaltransaction", entry, created())  # type: ignore[arg-type]
    with fast_retries():
        async with fake.client() as c:
            with pytest.raises(AmbiguousDestinationError):
                await c.create_journal(voucher())
    assert len(fake.api_requests("POST")) == 1


@pytest.mark.parametrize(
    "entry",
    [httpx2.ConnectError("connection refused"), json_response(429, None, {"Retry-After": "0"})],
)
async def test_create_is_retried_only_when_it_never_reached_visma(entry: object) -> None:
    fake = FakeVisma()
    fake.route("POST", "/v2/journaltransaction", entry, created())  # type: ignore[arg-type]
    with fast_retries():
        async with fake.client() as c:
            result = await c.create_journal(voucher())
            assert c.counters["retries"] == 1
    assert result.batch_number == "000123"
    assert len(fake.api_requests("POST")) == 2


async def test_create_rejected_by_validation_carries_visma_message() -> None:
    fake = FakeVisma()
    fake.route("POST", "/v2/journaltransaction", json_response(400, {"message": "Account 6800 is inactive."}))
    async with fake.client() as c:
        with pytest.raises(RejectedByDestinationError) as info:
            await c.create_journal(voucher())
    assert info.value.visma_message == "Account 6800 is inactive."
    assert len(fake.api_requests()) == 1


async def test_release_sends_if_match_and_returns_new_etag() -> None:
    fake = FakeVisma()
    path = "/v2/journaltransaction/000123/action/release"
    fake.route("POST", path, json_response(200, {"actionId": "a", "actionResult": "Done"}, {"ETag": '"v2"'}))
    async with fake.client() as c:
        assert await c.release_journal("000123", '"v1"') == '"v2"'
        assert await c.release_journal("000123", "v1") == '"v2"'  # unquoted etag gets quoted
    reqs = fake.api_requests("POST", path)
    assert [r.headers["if-match"] for r in reqs] == ['"v1"', '"v1"']
    assert all(r.content == b"" for r in reqs)


async def test_release_with_stale_etag_is_rejected() -> None:
    fake = FakeVisma()
    fake.route("POST", "/v2/journaltransaction/000123/action/release", json_response(412))
    async with fake.client() as c:
        with pytest.raises(RejectedByDestinationError) as info:
            await c.release_journal("000123", '"old"')
    assert info.value.status == 412


async def test_release_action_failed_is_rejected() -> None:
    fake = FakeVisma()
    fake.route(
        "POST",
        "/v2/journaltransaction/000123/action/release",
        json_response(
            200, {"actionId": "a", "actionResult": "Failed", "errorInfo": "Batch is out of balance"}
        ),
    )
    async with fake.client() as c:
        with pytest.raises(RejectedByDestinationError, match="out of balance") as info:
            await c.release_journal("000123", None)
    assert info.value.fix_by == Category.SOURCE_DATA  # the classifier decides, as for a 4xx


def _batch(
    number: str, lines: list[tuple[int, str, str, str]], total: int, **extra: object
) -> dict[str, object]:
    return {
        "batchNumber": number,
        "status": "Balanced",
        "hold": False,
        "financialPeriod": "202403",
        "currencyId": "NOK",
        "transactionDate": "2024-03-31T00:00:00",
        "timeStamp": "AAA=",
        "lastModifiedDateTime": "2024-04-02T09:15:27.383",
        "journalTransactionLines": [
            {
                "lineNumber": n,
                "accountNumber": acc,
                "referenceNumber": ref,
                "debitAmountInCurrency": Decimal(amt),
                "creditAmountInCurrency": Decimal(0),
                "subaccount": {
                    "subaccountNumber": "0002-00",
                    "segments": [
                        {"segmentId": 1, "segmentValue": "0002"},
                        {"segmentId": 2, "segmentValue": "00"},
                    ],
                },
            }
            for n, acc, ref, amt in lines
        ],
        "metadata": {"totalCount": total, "maxPageSize": 3},
        **extra,
    }


async def test_journals_page_by_lines_and_merge_split_batches() -> None:
    fake = FakeVisma()
    pages = {
        1: [
            _batch("000001", [(1, "6800", "A", "10"), (2, "2400", "A", "0")], 5),
            _batch("000002", [(1, "6800", "B", "20")], 5),
        ],
        2: [
            _batch("000002", [(2, "2400", "B", "0")], 5),
            _batch("000003", [(1, "6800", "C", "30"), (2, "2400", "C", "0")], 5),
        ],
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params["pageNumber"])
        return decimal_response(200, pages.get(page, []))

    fake.route("GET", "/v2/journaltransaction", handler)
    async with fake.client(page_size=1000) as c:
        batches = await c.journals(period="202403")
        found = await c.find_by_reference("B", period="202403")
    reqs = fake.api_requests("GET")
    assert [r.url.params["pageNumber"] for r in reqs[:2]] == ["1", "2"]
    assert reqs[0].url.params["periodId"] == "202403" and reqs[0].url.params["pageSize"] == "1000"
    # three pages each for journals() and find_by_reference(): page 2 is full (3 lines of 3), so
    # only the empty page 3 ends a scan, whatever totalCount says
    assert len(reqs) == 6
    assert [b.batch_number for b in batches] == ["000001", "000002", "000003"]
    assert [len(b.lines) for b in batches] == [2, 2, 2]
    assert [b.batch_number for b in found] == ["000002"]
    assert found[0].lines[0].subaccount[0].value == "0002"
    assert found[0].lines[0].debit == Decimal(20)


async def test_journals_need_a_period_or_a_time_and_send_modified_since_without_condition() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v2/journaltransaction", json_response(200, []))
    async with fake.client() as c:
        with pytest.raises(ValueError):
            await c.journals()
        await c.journals(modified_since=datetime(2024, 4, 2, 9, 15, 27, 383000, tzinfo=UTC))
    (req,) = fake.api_requests()
    assert req.url.params["lastModifiedDateTime"] == "2024-04-02T09:15:27.383"
    assert "lastModifiedDateTimeCondition" not in req.url.params


async def test_get_journal_reads_etag_and_decimal_amounts() -> None:
    fake = FakeVisma()
    body = _batch("000123", [(1, "6800", "X", "12500.10")], 1)
    fake.route("GET", "/v2/journaltransaction/000123", decimal_response(200, body, {"ETag": '"e1"'}))
    async with fake.client() as c:
        j = await c.get_journal("000123")
    assert j.etag == '"e1"'
    assert j.lines[0].debit == Decimal("12500.10") and str(j.lines[0].debit) == "12500.10"
    # Visma sends it without an offset; the client reads it in its server zone (UTC here) and
    # hands it out aware, once: nothing downstream converts again.
    assert j.last_modified is not None and j.last_modified.tzinfo is not None
    assert j.last_modified.isoformat() == "2024-04-02T09:15:27.383000+00:00"


async def test_get_journal_404_is_rejected_and_reads_retry_5xx() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v2/journaltransaction/999", json_response(404, {"message": "Not found"}))
    fake.route(
        "GET",
        "/v1/currency",
        json_response(503),
        httpx2.ReadTimeout("slow"),
        json_response(200, [{"id": "NOK", "isBaseCurrency": True, "decimalPrecision": 2}]),
    )
    with fast_retries():
        async with fake.client() as c:
            with pytest.raises(RejectedByDestinationError):
                await c.get_journal("999")
            currencies = await c.currencies()
            assert c.counters["retries"] == 2
    assert currencies[0].id == "NOK" and currencies[0].is_base is True


async def test_reads_give_up_with_retriable_after_the_policy() -> None:
    fake = FakeVisma()
    fake.route("GET", "/v1/ledger", json_response(500))
    with fast_retries():
        async with fake.client() as c:
            with pytest.raises(RetriableDestinationError):
                await c.ledgers()
    assert len(fake.api_requests()) == 5


def _page_of(batches: list[tuple[str, int]], total: int) -> list[dict[str, object]]:
    """Batches of ``n`` lines each (reference = batch number), with the given totalCount."""
    return [
        _batch(number, [(i + 1, "6800", f"ST-{number}", "1") for i in range(n)], total)
        for number, n in batches
    ]


@pytest.mark.parametrize("total_counts", ["lines", "batches"])
async def test_a_listing_ends_only_on_a_short_page_whatever_total_count_counts(total_counts: str) -> None:
    # 4 batches of 2 lines over pages of 3 lines; totalCount says 8 (lines) or 4 (batches)
    total = 8 if total_counts == "lines" else 4
    pages = {
        1: _page_of([("000001", 2), ("000002", 1)], total),
        2: _page_of([("000002", 1), ("000003", 2)], total),
        3: _page_of([("000004", 2)], total),
    }
    fake = FakeVisma()
    fake.route(
        "GET",
        "/v2/journaltransaction",
        lambda r: decimal_response(200, pages.get(int(r.url.params["pageNumber"]), [])),
    )
    async with fake.client(page_size=1000) as c:
        batches = await c.journals(period="202403")
    assert [b.batch_number for b in batches] == ["000001", "000002", "000003", "000004"]
    assert len(fake.api_requests("GET")) == 3  # page 3 holds 2 lines of 3: the end


async def test_a_silently_capped_page_reads_on_while_total_count_promises_more() -> None:
    # no maxPageSize in the metadata, and pages of 2 lines although 1000 were asked for
    def page(n: int) -> list[dict[str, object]]:
        items = _page_of([(f"00000{n}", 2)], 6) if n <= 3 else []
        for item in items:
            item["metadata"] = {"totalCount": 6}
        return items

    fake = FakeVisma()
    fake.route(
        "GET",
        "/v2/journaltransaction",
        lambda r: decimal_response(200, page(int(r.url.params["pageNumber"]))),
    )
    async with fake.client(page_size=1000) as c:
        found = await c.find_by_reference("ST-000003", period="202403")
    assert [b.batch_number for b in found] == ["000003"]


async def test_a_read_error_mid_scan_concludes_nothing() -> None:
    fake = FakeVisma()
    fake.route(
        "GET",
        "/v2/journaltransaction",
        decimal_response(200, _page_of([("000001", 2), ("000002", 1)], 8)),
        json_response(500),
        json_response(500),
        json_response(500),
        json_response(500),
        json_response(500),
    )
    with fast_retries():
        async with fake.client(page_size=1000) as c:
            with pytest.raises(RetriableDestinationError):
                await c.find_by_reference("ST-000009", period="202403")
