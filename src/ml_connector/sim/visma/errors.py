"""Errors the simulator turns into HTTP responses."""

from __future__ import annotations

import uuid
from typing import Any


class SimHTTPError(Exception):
    """An HTTP error response: status, JSON body (or none) and extra headers."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(message: str) -> SimHTTPError:
    """A business/validation failure: 400 ``{"message": ...}`` (visma-api.md §6)."""
    return SimHTTPError(400, {"message": message})


def not_found(message: str) -> SimHTTPError:
    return SimHTTPError(404, {"message": message})


def precondition_failed() -> SimHTTPError:
    """If-Match mismatch: 412 with an empty body (visma-api.md §3.3)."""
    return SimHTTPError(412, None)


def ipp_exception(fault_code: str, message: str = "", status: int = 400) -> SimHTTPError:
    """The legacy IPPException body (visma-api.md §1.4, §6), e.g. 12002 for a bad ipp-company-id."""
    return SimHTTPError(
        status,
        {
            "ExceptionType": "IPPException",
            "ExceptionMessage": message,
            "ExceptionFaultCode": fault_code,
            "ExceptionMessageID": f"{fault_code}_{fault_code}_{uuid.uuid4()}",
            "ExceptionDetails": "",
        },
    )
