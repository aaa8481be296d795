"""The notification body we read: a thin notice naming the changed entity; we then read the entity.

Visma's payload is not published where we looked (../shared/docs/visma-ap.md section 7: inferred
from related Visma products). We expect JSON such as::

    {"id": "6f1c...", "event": "SegmentValue.Created", "tenantId": "...", "companyId": "1234567",
     "timestamp": "2026-12-06T23:40:00Z", "entity": "segmentValue",
     "keys": {"dimensionId": "SUBACCOUNT", "segmentId": 1, "valueId": "0450"}}

``entity`` is one of ``account`` (keys ``accountCd``), ``supplier`` (``supplierCd``),
``segmentValue`` (``dimensionId``, ``segmentId``, ``valueId``) or ``segment`` (``dimensionId``,
``segmentId``). Other entities (e.g. voucher events) are accepted and ignored. ``id`` and
``timestamp`` are optional: without an id, the body's SHA-256 identifies the notification.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from ml_connector.pipeline.masterdata import ACCOUNT, SEGMENT_VALUE, SUPPLIER, segment_key

SEGMENT = "segment"  # a whole segment changed: its values are read again

#: (cache kind, key), e.g. ("segment_value", "1:0450") or ("segment", "1")
Entity = tuple[str, str]


class NoticeError(ValueError):
    """The body is signed but not a notice we understand."""


@dataclass(frozen=True)
class Notice:
    id: str
    tenant_id: str
    company_id: str | None
    event: str
    entity: Entity | None  # None: an entity we do not cache (accepted, ignored)
    timestamp: datetime | None


def parse(body: bytes) -> Notice:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoticeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NoticeError("not a JSON object")
    tenant = _text(data, "tenantId")
    if not tenant:
        raise NoticeError("no tenantId")
    company = _text(data, "companyId") or None
    keys = data.get("keys")
    return Notice(
        id=_text(data, "id") or hashlib.sha256(body).hexdigest(),
        tenant_id=tenant,
        company_id=company,
        event=_text(data, "event"),
        entity=_entity(_text(data, "entity"), keys if isinstance(keys, dict) else {}),
        timestamp=_time(data.get("timestamp")),
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _entity(kind: str, keys: dict[str, Any]) -> Entity | None:
    folded = kind.casefold()
    if folded == "account":
        number = _text(keys, "accountCd")
        return (ACCOUNT, number) if number else _missing("accountCd")
    if folded == "supplier":
        number = _text(keys, "supplierCd")
        return (SUPPLIER, number) if number else _missing("supplierCd")
    if folded in ("segmentvalue", "segment"):
        if _text(keys, "dimensionId").upper() != "SUBACCOUNT":
            return None  # other dimensions are not cached
        try:
            segment_id = int(_text(keys, "segmentId"))
        except ValueError:
            return _missing("segmentId")
        if folded == "segment":
            return (SEGMENT, str(segment_id))
        value = _text(keys, "valueId")
        return (SEGMENT_VALUE, segment_key(segment_id, value)) if value else _missing("valueId")
    return None


def _missing(key: str) -> NoReturn:
    raise NoticeError(f"keys.{key} is missing")


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise NoticeError(f"timestamp {value[:40]!r} is not ISO 8601") from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
