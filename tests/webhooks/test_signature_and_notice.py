"""The signature check and the notice parser, without a server."""

from __future__ import annotations

import json

import pytest

from ml_connector.pipeline.masterdata import ACCOUNT, SEGMENT_VALUE, SUPPLIER
from ml_connector.webhooks.notice import SEGMENT, NoticeError, parse
from ml_connector.webhooks.signature import sign, verify

FOX = b"The quick brown fox jumps over the lazy dog"


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231-style published vector: HMAC_SHA256("key", FOX) = f7bc83f4...2d1a3cd8
    assert sign("key", FOX) == "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
    assert verify("key", FOX, "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=")
    assert verify("key", FOX, " 97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg= ")  # header whitespace


@pytest.mark.parametrize(
    "given",
    [None, "", "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNh=", "not base64 at all", "ÿ"],
)
def test_anything_but_the_exact_signature_is_refused(given: str | None) -> None:
    assert not verify("key", FOX, given)


def test_an_empty_key_never_verifies() -> None:
    assert not verify("", FOX, sign("", FOX))


def _body(**fields: object) -> bytes:
    base: dict[str, object] = {"tenantId": "t-1", "entity": "account", "keys": {"accountCd": "6000"}}
    return json.dumps({**base, **fields}).encode()


def test_notices_name_the_cache_entry_they_change() -> None:
    assert parse(_body()).entity == (ACCOUNT, "6000")
    assert parse(_body(entity="supplier", keys={"supplierCd": "70001"})).entity == (SUPPLIER, "70001")
    value = {"dimensionId": "SUBACCOUNT", "segmentId": 1, "valueId": "0450"}
    assert parse(_body(entity="segmentValue", keys=value)).entity == (SEGMENT_VALUE, "1:0450")
    segment = {"dimensionId": "SUBACCOUNT", "segmentId": "2"}
    assert parse(_body(entity="segment", keys=segment)).entity == (SEGMENT, "2")
    other_dimension = {"dimensionId": "PROJECT", "segmentId": 1, "valueId": "P1"}
    assert parse(_body(entity="segmentValue", keys=other_dimension)).entity is None
    assert parse(_body(entity="voucher", keys={})).entity is None  # accepted, ignored


def test_a_notice_without_an_id_is_identified_by_its_body() -> None:
    first, again = parse(_body()), parse(_body())
    assert first.id == again.id and len(first.id) == 64
    assert parse(_body(id="abc")).id == "abc"
    assert parse(_body(timestamp="2026-12-06T23:40:00Z")).timestamp is not None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
        (json.dumps({"entity": "account"}).encode(), "no tenantId"),
        (_body(keys={}), "keys.accountCd is missing"),
        (_body(timestamp="yesterday"), "not ISO 8601"),
    ],
)
def test_bodies_we_do_not_understand_are_refused(body: bytes, why: str) -> None:
    with pytest.raises(NoticeError, match=why):
        parse(body)
