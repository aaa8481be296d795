"""The one place that turns a Visma response or a transport failure into a DestinationError.

    outcome                                          non-create           create (unsafe POST)
    2xx                                              None                 None
    429                                              Retriable(+wait)     Retriable(+wait)
    408                                              Retriable            Retriable
    5xx                                              Retriable            Ambiguous
    TLS certificate not verified                     Fatal                Fatal      (never sent)
    connect error / connect or pool timeout          Retriable            Retriable  (never sent)
    read/write timeout, dropped connection, other    Retriable            Ambiguous  (may have landed)
    400 with invalid_client / invalid_tenant / …     Fatal                Fatal
    400 with IPP fault 12002 / 12027 (company/licence) Fatal              Fatal
    400 / 404 / 409 / 410 / 412 / 422                Rejected             Rejected
    401 / 403                                        Fatal                Fatal
    (the client renews the token once on a 401 before classifying)
    other 4xx                                        Fatal (our request is wrong for every document)

Who must fix it (``DestinationError.fix_by``): retriable and ambiguous outcomes fix themselves
(connectivity); fatal ones need the ml-connector administrator (configuration); a refusal of one
document is decided here, once, from what Visma's message names (``who_fixes``, table
``REFUSAL_SUBJECTS``): master data in Visma when it names an account, segment, period or supplier,
otherwise the source document.

"Create" means any POST that changes state and cannot be safely repeated: creating a journal
and the release action. Visma's message is parsed from both error body shapes: the simple
``{"message": "…"}`` and the IPP exception ``{"ExceptionMessage", "ExceptionDetails", …}``; OAuth
errors ``{"error", "error_description"}`` too.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx2

from ml_connector.domain.problems import Category
from ml_connector.errors import (
    AmbiguousDestinationError,
    DestinationError,
    FatalDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.redaction import redact, redact_url

FATAL_OAUTH_ERRORS = frozenset(
    {"invalid_client", "invalid_tenant", "unauthorized_client", "invalid_grant", "invalid_scope"}
)
# IPP fault codes that hold for every document of the company: not a problem of one post.
FATAL_IPP_CODES = frozenset({"12002", "12027"})
REJECTED_STATUSES = frozenset({400, 404, 409, 410, 412, 422})
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)
_MAX_TEXT = 500

# What a refusal's message names -> the kind of record (the master-data kinds the pipeline caches).
# First match wins, so "subaccount" is read before "account"; words match inside others, as
# Visma's texts vary ("Subaccount", "SupplierID", "financial period 202503 is closed").
REFUSAL_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("subaccount", "segment_value"),
    ("segment", "segment_value"),
    ("account", "account"),
    ("period", "period"),
    ("supplier", "supplier"),
    ("vendor", "supplier"),
)


def visma_message(
    response: httpx2.Response, secrets: Iterable[str | None] = ()
) -> tuple[str | None, str | None]:
    """(message, fault code) from an error body of either Visma shape, or from OAuth/plain text."""
    try:
        text = response.text
    except (httpx2.ResponseNotRead, UnicodeDecodeError):
        return None, None
    text = text.strip()
    if not text:
        return None, None
    try:
        body = json.loads(text)
    except ValueError:
        return redact(text[:_MAX_TEXT], secrets), None
    if not isinstance(body, dict):
        return redact(text[:_MAX_TEXT], secrets), None
    message: str | None = None
    code: str | None = None
    for key in ("message", "Message"):
        if isinstance(body.get(key), str) and body[key]:
            message = body[key]
            break
    if "ExceptionMessage" in body or "ExceptionFaultCode" in body:
        fault = body.get("ExceptionFaultCode")
        code = str(fault) if fault not in (None, "") else None
        if message is None:
            parts = [str(body.get(k) or "").strip() for k in ("ExceptionMessage", "ExceptionDetails")]
            message = " ".join(p for p in parts if p) or None
        if message is None and body.get("ExceptionMessageID"):
            message = f"IPP error {body['ExceptionMessageID']}"
    if "error" in body and isinstance(body["error"], str):
        code = body["error"]
        if message is None:
            desc = body.get("error_description")
            message = f"{body['error']}: {desc}" if desc else body["error"]
    if message is None:
        message = text[:_MAX_TEXT]
    return redact(message, secrets), code


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date counted from ``now``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def who_fixes(visma_message: str | None) -> tuple[str, str | None]:
    """(Category, subject) for a refusal: master data in Visma when the message names a record of
    it, otherwise the document as the source sent it. The only reading of Visma's free text."""
    text = (visma_message or "").lower()
    for word, subject in REFUSAL_SUBJECTS:
        if word in text:
            return Category.VISMA_MASTER_DATA, subject
    return Category.SOURCE_DATA, None


def refusal(
    text: str,
    *,
    status: int | None,
    visma_message: str | None,
    context: dict[str, object] | None = None,
) -> RejectedByDestinationError:
    """Visma refused this one document (a 4xx, or an action answered "failed"): who fixes it."""
    fix_by, subject = who_fixes(visma_message)
    return RejectedByDestinationError(
        text, status=status, visma_message=visma_message, context=context, fix_by=fix_by, subject=subject
    )


def classify_response(
    response: httpx2.Response, *, is_create: bool = False, secrets: Iterable[str | None] = ()
) -> DestinationError | None:
    """The error a response stands for, or None when it is a success."""
    status = response.status_code
    if status < 400:
        return None
    request = response.request
    what = f"{request.method} {redact_url(str(request.url.copy_with(query=None)))}"
    message, code = visma_message(response, secrets)
    detail = f": {message}" if message else ""
    context: dict[str, object] = {"method": request.method, "path": request.url.path}
    if code:
        context["code"] = code

    def make(cls: type[DestinationError], text: str) -> DestinationError:
        return cls(text, status=status, visma_message=message, context=context)

    if status == 429:
        wait = retry_after_seconds(response.headers.get("retry-after"))
        return RetriableDestinationError(
            f"{what} throttled (429){detail}",
            retry_after=wait,
            status=status,
            visma_message=message,
            context=context,
        )
    if status == 408:
        return make(RetriableDestinationError, f"{what} timed out at the server (408){detail}")
    if status >= 500:
        if is_create:
            return make(
                AmbiguousDestinationError,
                f"{what} failed with {status} after it was sent; it may have been booked{detail}",
            )
        wait = retry_after_seconds(response.headers.get("retry-after"))
        return RetriableDestinationError(
            f"{what} failed with {status}{detail}",
            retry_after=wait,
            status=status,
            visma_message=message,
            context=context,
        )
    if code in FATAL_OAUTH_ERRORS or code in FATAL_IPP_CODES:
        return make(FatalDestinationError, f"{what} refused ({status} {code}){detail}")
    if status in (401, 403):
        return make(FatalDestinationError, f"{what} not authorised ({status}){detail}")
    if status in REJECTED_STATUSES:
        if status == 412 and not message:
            etag_text = "the record changed since it was read (ETag mismatch)"
            text, message = f"{what} rejected (412): {etag_text}", etag_text
        else:
            text = f"{what} rejected ({status}){detail}"
        return refusal(text, status=status, visma_message=message, context=context)
    return make(FatalDestinationError, f"{what} failed with {status}{detail}")


def classify_exception(
    exc: BaseException, *, is_create: bool = False, what: str = "request"
) -> DestinationError:
    """The error a transport failure stands for. Only a failure before sending is safe to resend."""
    name = type(exc).__name__
    context: dict[str, object] = {"exception": name}
    if isinstance(exc, DestinationError):
        return exc
    cert = _certificate_error(exc)
    if cert is not None:
        # Retrying cannot help, and it must never be "fixed" by turning verification off.
        return FatalDestinationError(
            f"{what}: the server's TLS certificate could not be verified ({cert}); if a proxy re-signs "
            "the traffic, configure its CA as visma.ca_bundle",
            context=context,
        )
    if isinstance(exc, _NOT_SENT):
        return RetriableDestinationError(f"{what}: could not connect ({name})", context=context)
    if isinstance(exc, httpx2.TimeoutException | httpx2.TransportError | OSError):
        if is_create:
            return AmbiguousDestinationError(
                f"{what}: {name} after the request was sent; it may have been booked", context=context
            )
        return RetriableDestinationError(f"{what}: {name}", context=context)
    return FatalDestinationError(f"{what}: unexpected {name}", context=context)


def _certificate_error(exc: BaseException) -> str | None:
    """The verification failure behind a transport error, if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or str(current)
        current = current.__cause__ or current.__context__
    return None


def classify(
    outcome: httpx2.Response | BaseException,
    *,
    is_create: bool = False,
    what: str = "request",
    secrets: Iterable[str | None] = (),
) -> DestinationError | None:
    """Response or exception (plus whether it was a create) -> the error to raise, or None."""
    if isinstance(outcome, httpx2.Response):
        return classify_response(outcome, is_create=is_create, secrets=secrets)
    return classify_exception(outcome, is_create=is_create, what=what)
