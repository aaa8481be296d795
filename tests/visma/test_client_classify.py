"""The one classifier: every class, both Visma error body shapes, OAuth errors, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from ml_connector.adapters.visma.classify import (
    classify,
    classify_exception,
    classify_response,
    refusal,
    retry_after_seconds,
    visma_message,
    who_fixes,
)
from ml_connector.domain.problems import Category
from ml_connector.errors import (
    AmbiguousDestinationError,
    FatalDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from tests.visma.test_client_support import SECRET, json_response

REQ_GET = httpx2.Request("GET", "https://api.test/v1/account")
REQ_POST = httpx2.Request("POST", "https://api.test/v2/journaltransaction")


def resp(
    status: int, body: object = None, *, request: httpx2.Request = REQ_GET, **headers: str
) -> httpx2.Response:
    r = json_response(status, body, {k.replace("_", "-"): v for k, v in headers.items()})
    r.request = request
    return r


IPP = {
    "ExceptionType": "IPPException",
    "ExceptionMessage": "Account 9999 does not exist.",
    "ExceptionFaultCode": "10001",
    "ExceptionMessageID": "10001_6e2a06a8-76d8-4e9a-bce8-a5818d60a388",
    "ExceptionDetails": "Line 2",
}


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_is_none(status: int) -> None:
    assert classify_response(resp(status)) is None
    assert classify(resp(status), is_create=True) is None


def test_simple_message_body_is_rejected_with_visma_message() -> None:
    err = classify_response(resp(400, {"message": "Financial period 202413 does not exist."}))
    assert isinstance(err, RejectedByDestinationError)
    assert err.status == 400
    assert err.visma_message == "Financial period 202413 does not exist."
    assert "202413" in str(err)


def test_ipp_exception_body_is_parsed() -> None:
    err = classify_response(resp(400, IPP))
    assert isinstance(err, RejectedByDestinationError)
    assert err.visma_message == "Account 9999 does not exist. Line 2"
    assert err.context["code"] == "10001"


def test_ipp_body_with_only_message_id() -> None:
    body = {
        "ExceptionType": "IPPException",
        "ExceptionMessage": "",
        "ExceptionFaultCode": "12345",
        "ExceptionMessageID": "12345_abc",
        "ExceptionDetails": "",
    }
    message, code = visma_message(resp(400, body))
    assert code == "12345"
    assert message == "IPP error 12345_abc"


@pytest.mark.parametrize("code", ["12002", "12027"])
def test_company_level_ipp_faults_are_fatal(code: str) -> None:
    body = {**IPP, "ExceptionFaultCode": code, "ExceptionMessage": "No license for this company."}
    err = classify_response(resp(400, body))
    assert isinstance(err, FatalDestinationError)
    assert "No license" in (err.visma_message or "")


@pytest.mark.parametrize("status", [404, 409, 410, 422])
def test_business_4xx_are_rejected(status: int) -> None:
    err = classify_response(resp(status, {"message": "nope"}))
    assert isinstance(err, RejectedByDestinationError) and err.status == status


def test_412_with_empty_body_is_rejected_with_etag_explanation() -> None:
    err = classify_response(resp(412, request=REQ_POST), is_create=True)
    assert isinstance(err, RejectedByDestinationError)
    assert err.visma_message is not None and "ETag" in err.visma_message
    assert err.fix_by == Category.SOURCE_DATA and err.subject is None


# Who fixes a refusal: the one reading of Visma's free text (the simulator's messages and Visma's).
@pytest.mark.parametrize(
    ("message", "fix_by", "subject"),
    [
        ("Line 2: Account '9999' does not exist.", Category.VISMA_MASTER_DATA, "account"),
        ("Account 9999 does not exist. Line 2", Category.VISMA_MASTER_DATA, "account"),
        ("Line 1: Account '2460' is a control account for module AP", Category.VISMA_MASTER_DATA, "account"),
        ("Financial period 03-2025 is closed in General Ledger.", Category.VISMA_MASTER_DATA, "period"),
        ("Invalid financialPeriod '2025'; the format is YYYYMM.", Category.VISMA_MASTER_DATA, "period"),
        ("Line 1: subaccount segment(s) [2] missing.", Category.VISMA_MASTER_DATA, "segment_value"),
        ("Line 1: value '0450' of segment 1 is inactive.", Category.VISMA_MASTER_DATA, "segment_value"),
        ("Supplier 10023 not found.", Category.VISMA_MASTER_DATA, "supplier"),
        ("The vendor is on hold.", Category.VISMA_MASTER_DATA, "supplier"),
        ("Line 3: a line can have a debit amount or a credit amount, not both.", Category.SOURCE_DATA, None),
        ("Batch is out of balance", Category.SOURCE_DATA, None),
        ("", Category.SOURCE_DATA, None),
        (None, Category.SOURCE_DATA, None),
    ],
)
def test_who_fixes_a_refusal(message: str | None, fix_by: str, subject: str | None) -> None:
    assert who_fixes(message) == (fix_by, subject)


def test_a_rejection_carries_who_fixes_it() -> None:
    err = classify_response(resp(400, {"message": "Financial period 202413 does not exist."}))
    assert isinstance(err, RejectedByDestinationError)
    assert (err.fix_by, err.subject) == (Category.VISMA_MASTER_DATA, "period")
    err = classify_response(resp(422, {"message": "Line 3: a line can have a debit or a credit, not both."}))
    assert isinstance(err, RejectedByDestinationError)
    assert (err.fix_by, err.subject) == (Category.SOURCE_DATA, None)
    released = refusal("release of 000123 failed: x", status=200, visma_message="Account 1920 is inactive")
    assert (released.fix_by, released.subject) == (Category.VISMA_MASTER_DATA, "account")
    assert released.status == 200


def test_other_outcomes_say_who_fixes_them() -> None:
    assert classify_response(resp(503)).fix_by == Category.CONNECTIVITY  # type: ignore[union-attr]
    ambiguous = classify_response(resp(503, request=REQ_POST), is_create=True)
    assert isinstance(ambiguous, AmbiguousDestinationError) and ambiguous.fix_by == Category.CONNECTIVITY
    fatal = classify_response(resp(401))
    assert isinstance(fatal, FatalDestinationError) and fatal.fix_by == Category.MAPPING
    assert classify_exception(httpx2.ConnectError("refused")).fix_by == Category.CONNECTIVITY


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_fatal(status: int) -> None:
    assert isinstance(classify_response(resp(status)), FatalDestinationError)


@pytest.mark.parametrize("error", ["invalid_client", "invalid_tenant"])
def test_oauth_errors_are_fatal(error: str) -> None:
    body = {"error": error, "error_description": "The application user or subscription is not entitled"}
    err = classify_response(resp(400, body))
    assert isinstance(err, FatalDestinationError)
    assert err.context["code"] == error
    assert error in str(err)


@pytest.mark.parametrize("status", [405, 415])
def test_other_4xx_are_fatal(status: int) -> None:
    assert isinstance(classify_response(resp(status)), FatalDestinationError)


def test_429_is_retriable_with_retry_after_even_for_a_create() -> None:
    for is_create in (False, True):
        err = classify_response(
            resp(
                429,
                {"statusCode": 429, "message": "Rate limit is exceeded."},
                request=REQ_POST,
                Retry_After="7",
            ),
            is_create=is_create,
        )
        assert isinstance(err, RetriableDestinationError)
        assert err.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retriable_on_reads_and_ambiguous_on_creates(status: int) -> None:
    assert isinstance(classify_response(resp(status)), RetriableDestinationError)
    err = classify_response(resp(status, request=REQ_POST), is_create=True)
    assert isinstance(err, AmbiguousDestinationError)
    assert not isinstance(err, RetriableDestinationError)


def test_408_is_retriable() -> None:
    assert isinstance(classify_response(resp(408)), RetriableDestinationError)


def test_non_json_error_body_is_kept_as_text_and_redacted() -> None:
    r = httpx2.Response(502, content=f"<html>Bad gateway Bearer abc.def.ghi {SECRET}</html>".encode())
    r.request = REQ_GET
    err = classify_response(r, secrets=(SECRET,))
    assert isinstance(err, RetriableDestinationError)
    assert SECRET not in str(err) and "abc.def.ghi" not in str(err)
    assert "Bad gateway" in str(err)


@pytest.mark.parametrize(
    "exc", [httpx2.ConnectError("refused"), httpx2.ConnectTimeout("slow"), httpx2.PoolTimeout("busy")]
)
def test_failures_before_sending_are_retriable_even_for_creates(exc: Exception) -> None:
    assert isinstance(classify_exception(exc, is_create=True), RetriableDestinationError)
    assert isinstance(classify(exc), RetriableDestinationError)


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ReadTimeout("timed out"),
        httpx2.WriteTimeout("timed out"),
        httpx2.RemoteProtocolError("Server disconnected without sending a response."),
        httpx2.ReadError("connection reset"),
    ],
)
def test_failures_after_sending_are_ambiguous_for_creates_only(exc: Exception) -> None:
    assert isinstance(classify_exception(exc, is_create=True), AmbiguousDestinationError)
    assert isinstance(classify_exception(exc, is_create=False), RetriableDestinationError)


def test_unexpected_exception_is_fatal() -> None:
    assert isinstance(classify_exception(RuntimeError("bug")), FatalDestinationError)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
