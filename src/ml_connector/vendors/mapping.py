"""One Visma supplier -> one §4.6 row (every value a string; empty means null), its content hash
and its bank-account fingerprint.

Bank details come from ``supplierPaymentMethodDetails``: each detail is classified by its banking
detail type, else by its id or description (``IBAN``; ``BIC``/``SWIFT``; routing/ABA; bank name;
anything naming an account or ``BBAN`` is the domestic account number).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from ml_connector.adapters.visma.models import BankDetail, Supplier
from ml_connector.vendors.csvfile import COLUMNS

ACTIVE_STATUSES = frozenset({"active"})  # the same rule the invoice cycle uses for posting
BANK_FIELDS = ("iban", "bankAccountNumber")  # a change in either is vendor-master drift
HASHED = tuple(c for c in COLUMNS if c != "lastModified")


def _obj(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    v = d.get(key)
    return v if isinstance(v, Mapping) else {}


def _s(value: object) -> str:
    return "" if value is None else str(value).strip()


def _kind(detail: BankDetail, banking_type: str) -> str | None:
    text = " ".join(x for x in (banking_type, detail.detail_id or "", detail.description or "") if x).lower()
    if not text:
        return None
    if "iban" in text:
        return "iban"
    if "bic" in text or "swift" in text:
        return "bic"
    if "routing" in text or "aba" in text.split():
        return "bankRoutingNumber"
    if "bank name" in text or "bankname" in text or text.strip() == "bank":
        return "bankName"
    if re.search(r"account|acct|konto|bban", text):
        return "bankAccountNumber"
    return None


def bank_fields(s: Supplier) -> dict[str, str]:
    raw_details = s.raw.get("supplierPaymentMethodDetails") or []
    types = [
        _s(d.get("paymentMethodDetailBankingDetailType")) if isinstance(d, Mapping) else ""
        for d in raw_details
        if isinstance(d, Mapping)
    ]
    out: dict[str, str] = {}
    for i, detail in enumerate(s.bank_details):
        kind = _kind(detail, types[i] if i < len(types) else "")
        value = _s(detail.value)
        if kind and value and kind not in out:
            out[kind] = value
    return out


def utc_text(dt: datetime | None, server_tz: tzinfo) -> str:
    """Visma's timestamp as ``YYYY-MM-DDTHH:MM:SSZ``. The client hands out aware UTC ones
    (``adapters/visma/models.in_utc``); a naive one (a record built elsewhere) is read in ``server_tz``."""
    aware = as_utc(dt, server_tz)
    return "" if aware is None else aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(dt: datetime | None, server_tz: tzinfo) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=server_tz)
    return dt.astimezone(UTC)


def vendor_row(s: Supplier, server_tz: tzinfo) -> dict[str, str]:
    raw = s.raw
    addr = _obj(raw, "mainAddress")
    lines = list(s.address_lines)
    gl = _obj(_obj(raw, "glAccounts"), "expenseAccount")
    row = {c: "" for c in COLUMNS}
    row.update(
        {
            "vendorId": s.number,
            "vendorName": _s(s.name) or s.number,
            "active": "true" if (s.status or "Active").lower() in ACTIVE_STATUSES else "false",
            "legalName": _s(_obj(raw, "mainContact").get("name")),
            "orgNumber": _s(s.corporate_id),
            "vatNumber": _s(s.vat_registration_id),
            "email": _s(s.email),
            "phone": _s(s.phone),
            "addressLine1": lines[0] if lines else "",
            "addressLine2": ", ".join(lines[1:]),
            "postalCode": _s(s.postal_code),
            "city": _s(s.city),
            "region": _s(_obj(addr, "county").get("id")),
            "countryCode": _s(s.country_id),
            "currencyId": _s(s.currency_id),
            "terms": _s(_obj(raw, "creditTerms").get("id")),
            "paymentMethod": _s(s.payment_method),
            "vendorClass": _s(_obj(raw, "supplierClass").get("id")),
            "defaultGlAccount": _s(gl.get("number") or gl.get("id")),
            "lastModified": utc_text(s.last_modified, server_tz),
        }
    )
    row.update(bank_fields(s))
    return row


def inactive(row: Mapping[str, str]) -> dict[str, str]:
    """A vendor Visma no longer lists: sent as ``active=false``, never deleted."""
    return {**{c: row.get(c, "") for c in COLUMNS}, "active": "false"}


def content_hash(row: Mapping[str, str]) -> str:
    """Over every exported field but ``lastModified`` (a Visma edit Stampli cannot see is no change)."""
    payload = json.dumps([row.get(c, "") for c in HASHED], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _norm(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value).upper()


def bank_hash(row: Mapping[str, str]) -> str:
    payload = "\x1f".join(_norm(row.get(f, "")) for f in BANK_FIELDS)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def mask(value: str) -> str:
    v = _norm(value)
    if not v:
        return ""
    return "****" + v[-4:] if len(v) > 4 else "****"


def bank_masked(row: Mapping[str, str]) -> dict[str, str]:
    return {f: mask(row.get(f, "")) for f in BANK_FIELDS}
