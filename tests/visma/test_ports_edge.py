"""The Visma port at the adapter's edge: wire records become domain types, and Visma's offset-less
times become aware UTC once (read in the configured zone), whatever the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ml_connector.adapters.visma.ports import VismaPorts
from ml_connector.adapters.visma.wire import journal_dto
from ml_connector.domain.booked import Booked
from ml_connector.domain.masterdata import Account
from tests.visma.test_client_journal import _batch, decimal_response
from tests.visma.test_client_support import FakeVisma, json_response, voucher

OSLO_MARCH = datetime(2024, 3, 10, 8, 15, tzinfo=UTC)  # 09:15 in Oslo (CET, UTC+1)


async def test_master_data_comes_out_as_domain_types_in_utc() -> None:
    fake = FakeVisma()
    fake.route(
        "GET",
        "/v1/account",
        json_response(
            200,
            [
                {
                    "accountCD": "6800",
                    "description": "Kontor",
                    "active": True,
                    "lastModifiedDateTime": "2024-03-10T09:15:00",  # Oslo time, no offset
                }
            ],
        ),
    )
    async with VismaPorts(fake.client(server_timezone="Europe/Oslo")) as visma:
        [account] = await visma.masterdata.accounts(modified_since=OSLO_MARCH)
    assert isinstance(account, Account)
    assert account.number == "6800" and account.active is True
    assert account.last_modified == OSLO_MARCH and account.last_modified.tzinfo is not None
    # ...and an aware mark goes back out in Visma's zone, without an offset
    (req,) = fake.api_requests()
    assert req.url.params["lastModifiedDateTime"] == "2024-03-10T09:15:00.000"


async def test_the_journal_target_creates_and_reads_back_booked_vouchers() -> None:
    fake = FakeVisma()
    fake.route(
        "POST",
        "/v2/journaltransaction",
        json_response(201, None, {"Location": "https://x/v2/journaltransaction/000123", "ETag": '"e1"'}),
    )
    body = _batch("000123", [(1, "6800", "INV-1001", "31748.10")], 1)
    fake.route("GET", "/v2/journaltransaction/000123", decimal_response(200, body, {"ETag": '"e2"'}))
    async with VismaPorts(fake.client(server_timezone="Europe/Oslo")) as visma:
        v = voucher()
        assert journal_dto(v)["journalTransactionLines"]  # the request body the create sends
        created = await visma.posting.create(v)
        booked = await visma.posting.get(created.number)
    assert created.number == "000123" and created.etag == '"e1"'
    assert isinstance(booked, Booked) and booked.etag == '"e2"'
    assert booked.references == frozenset({"INV-1001"})
    assert booked.lines[0].debit == Decimal("31748.10")
    assert booked.last_modified == datetime(2024, 4, 2, 7, 15, 27, 383000, tzinfo=UTC)  # CEST, UTC+2
