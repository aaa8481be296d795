"""What the client reads from Visma: small frozen records parsed from the read DTOs.

Amounts are ``Decimal`` (responses are parsed with ``parse_float=Decimal``). ``from_dto`` keeps
timestamps exactly as Visma wrote them: naive when Visma sends no offset (its documented
timestamps are company-local time without an offset), aware when it sends one; the client then
hands every ``last_modified`` out as aware UTC (``in_utc``), once, at the edge. Dates are
``date``. Missing or null fields become ``None``; nothing here raises on a field Visma left out.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, TypeVar

from ml_connector.domain.journal import Segment as LineSegment

_FRACTION = re.compile(r"(\.\d{6})\d+")
_R = TypeVar("_R")


def _str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    return None if v is None else str(v)


def _bool(d: dict[str, Any], key: str) -> bool | None:
    v = d.get(key)
    return v if isinstance(v, bool) else None


def _int(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _dec(d: dict[str, Any], key: str) -> Decimal | None:
    v = d.get(key)
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, Decimal | int | str):
        return Decimal(v)
    raise TypeError(f"{key}: expected a number, got {type(v).__name__}")


def _amount(d: dict[str, Any], key: str) -> Decimal:
    v = _dec(d, key)
    return Decimal(0) if v is None else v


def parse_datetime(text: object) -> datetime | None:
    """A Visma timestamp; more than 6 fraction digits (.NET writes 7) are cut to 6."""
    if not isinstance(text, str) or not text:
        return None
    text = _FRACTION.sub(r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def _dt(d: dict[str, Any], key: str) -> datetime | None:
    return parse_datetime(d.get(key))


def _date(d: dict[str, Any], key: str) -> date | None:
    dt = _dt(d, key)
    return None if dt is None else dt.date()


def _obj(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    return v if isinstance(v, dict) else {}


@dataclass(frozen=True, slots=True)
class Account:
    number: str
    description: str | None
    type: str | None
    active: bool | None
    allow_manual_entry: bool | None
    control_account_module: str | None
    account_id: int | None = None
    account_class: str | None = None
    currency: str | None = None
    post_option: str | None = None
    cash_account: bool | None = None
    last_modified: datetime | None = None
    timestamp: str | None = None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Account:
        return cls(
            number=str(d.get("accountCD") or ""),
            description=_str(d, "description"),
            type=_str(d, "type"),
            active=_bool(d, "active"),
            allow_manual_entry=_bool(d, "allowManualEntry"),
            control_account_module=_str(d, "controlAccountModule"),
            account_id=_int(d, "accountID"),
            account_class=_str(d, "accountClass"),
            currency=_str(d, "currency"),
            post_option=_str(d, "postOption"),
            cash_account=_bool(d, "cashAccount"),
            last_modified=_dt(d, "lastModifiedDateTime"),
            timestamp=_str(d, "timeStamp"),
        )


@dataclass(frozen=True, slots=True)
class SegmentValue:
    segment_id: int
    value: str
    description: str | None
    active: bool | None
    last_modified: datetime | None = None

    @classmethod
    def from_dto(cls, d: dict[str, Any], segment_id: int) -> SegmentValue:
        return cls(
            segment_id=_int(d, "segmentId") or segment_id,
            value=str(d.get("valueId") or d.get("value") or ""),
            description=_str(d, "description"),
            active=_bool(d, "active"),
            last_modified=_dt(d, "lastModified"),
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a segmented key (e.g. SUBACCOUNT segment 1 = department) with its values."""

    segment_id: int
    description: str | None
    length: int | None
    values: tuple[SegmentValue, ...]
    validate: bool | None = None
    last_modified: datetime | None = None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Segment:
        sid = _int(d, "segmentId") or 0
        raw_values = d.get("segmentValues") or []
        return cls(
            segment_id=sid,
            description=_str(d, "description"),
            length=_int(d, "length"),
            values=tuple(SegmentValue.from_dto(v, sid) for v in raw_values if isinstance(v, dict)),
            validate=_bool(d, "validate"),
            last_modified=_dt(d, "lastModified"),
        )


@dataclass(frozen=True, slots=True)
class Subaccount:
    number: str  # e.g. "0002-00"
    subaccount_id: int | None
    description: str | None
    active: bool | None
    segments: tuple[LineSegment, ...]
    last_modified: datetime | None = None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Subaccount:
        return cls(
            number=str(d.get("subaccountNumber") or ""),
            subaccount_id=_int(d, "subaccountId"),
            description=_str(d, "description"),
            active=_bool(d, "active"),
            segments=_line_segments(d.get("segments")),
            last_modified=_dt(d, "lastModifiedDateTime"),
        )


def _line_segments(raw: object) -> tuple[LineSegment, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        LineSegment(segment_id=_int(s, "segmentId") or 0, value=str(s.get("segmentValue") or ""))
        for s in raw
        if isinstance(s, dict)
    )


@dataclass(frozen=True, slots=True)
class BankDetail:
    description: str | None
    value: str | None
    detail_id: str | None


@dataclass(frozen=True)
class Supplier:
    number: str
    name: str | None
    status: str | None
    currency_id: str | None
    vat_registration_id: str | None
    corporate_id: str | None
    address_lines: tuple[str, ...]
    postal_code: str | None
    city: str | None
    country_id: str | None
    email: str | None
    phone: str | None
    payment_method: str | None
    bank_details: tuple[BankDetail, ...]
    last_modified: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False, hash=False)

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Supplier:
        addr = _obj(d, "mainAddress")
        contact = _obj(d, "mainContact")
        details = d.get("supplierPaymentMethodDetails") or []
        return cls(
            number=str(d.get("number") or ""),
            name=_str(d, "name"),
            status=_str(d, "status"),
            currency_id=_str(d, "currencyId"),
            vat_registration_id=_str(d, "vatRegistrationId"),
            corporate_id=_str(d, "corporateId"),
            address_lines=tuple(
                str(addr[k]) for k in ("addressLine1", "addressLine2", "addressLine3") if addr.get(k)
            ),
            postal_code=_str(addr, "postalCode"),
            city=_str(addr, "city"),
            country_id=_str(_obj(addr, "country"), "id"),
            email=_str(contact, "email"),
            phone=_str(contact, "phone1"),
            payment_method=_str(_obj(d, "paymentMethod"), "id"),
            bank_details=tuple(
                BankDetail(
                    description=_str(x, "paymentMethodDetailDescription"),
                    value=_str(x, "paymentMethodDetailValue"),
                    detail_id=_str(x, "paymentMethodDetailID"),
                )
                for x in details
                if isinstance(x, dict)
            ),
            last_modified=_dt(d, "lastModifiedDateTime"),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class FinancialPeriod:
    period: str  # YYYYPP
    year: int | None
    start_date: date | None
    end_date: date | None
    description: str | None
    active: bool | None
    closed_in_gl: bool | None
    closed_in_ap: bool | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> FinancialPeriod:
        return cls(
            period=str(d.get("period") or ""),
            year=_int(d, "year"),
            start_date=_date(d, "startDate"),
            end_date=_date(d, "endDate"),
            description=_str(d, "description"),
            active=_bool(d, "active"),
            closed_in_gl=_bool(d, "closedInGeneralLedger"),
            closed_in_ap=_bool(d, "closedInSupplierLedger"),
        )


@dataclass(frozen=True, slots=True)
class Branch:
    number: str
    name: str | None
    active: bool | None
    is_main: bool | None
    branch_id: int | None
    currency_id: str | None
    ledger: str | None
    last_modified: datetime | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Branch:
        return cls(
            number=str(d.get("number") or ""),
            name=_str(d, "name"),
            active=_bool(d, "isActive"),
            is_main=_bool(d, "isMainBranch"),
            branch_id=_int(d, "branchId"),
            currency_id=_str(_obj(d, "currency"), "id"),
            ledger=_str(_obj(d, "ledger"), "id"),
            last_modified=_dt(d, "lastModifiedDateTime"),
        )


@dataclass(frozen=True, slots=True)
class Ledger:
    number: str
    description: str | None
    balance_type: str | None
    currency_id: str | None
    internal_id: int | None
    last_modified: datetime | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Ledger:
        return cls(
            number=str(d.get("number") or ""),
            description=_str(d, "description"),
            balance_type=_str(d, "balanceType"),
            currency_id=_str(d, "currencyId"),
            internal_id=_int(d, "internalId"),
            last_modified=_dt(d, "lastModifiedDateTime"),
        )


@dataclass(frozen=True, slots=True)
class Currency:
    id: str
    description: str | None
    symbol: str | None
    is_base: bool | None
    decimal_precision: int | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> Currency:
        return cls(
            id=str(d.get("id") or ""),
            description=_str(d, "description"),
            symbol=_str(d, "symbol"),
            is_base=_bool(d, "isBaseCurrency"),
            decimal_precision=_int(d, "decimalPrecision"),
        )


@dataclass(frozen=True, slots=True)
class VatCode:
    """One ``VatInformationDto`` (``GET /v1/vat``). Visma has no active flag here: a VAT id stops
    being valid after ``not_valid_after``. ``rate`` is the newest scheduled rate."""

    vat_id: str
    description: str | None
    type: str | None
    not_valid_after: datetime | None
    rate: Decimal | None
    last_modified: datetime | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> VatCode:
        schedules = [s for s in d.get("schedules") or [] if isinstance(s, dict)]
        dated = sorted(schedules, key=lambda s: str(s.get("startDate") or ""))
        return cls(
            vat_id=str(d.get("vatId") or ""),
            description=_str(d, "description"),
            type=_str(d, "type"),
            not_valid_after=_dt(d, "notValidAfter"),
            rate=_dec(dated[-1], "vatRate") if dated else None,
            last_modified=_dt(d, "lastModifiedDateTime"),
        )


@dataclass(frozen=True, slots=True)
class CreditTerm:
    """One ``CreditTermDto`` (``GET /v1/creditTerm``). ``visible_to``: AL all, VE suppliers,
    CU customers, DS disabled."""

    terms_id: str
    description: str | None
    visible_to: str | None
    due_date_type: str | None
    due_days: int | None
    discount_percent: Decimal | None
    discount_days: int | None
    last_modified: datetime | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> CreditTerm:
        return cls(
            terms_id=str(d.get("termsId") or ""),
            description=_str(d, "description"),
            visible_to=_str(d, "visibleTo"),
            due_date_type=_str(d, "dueDateType"),
            due_days=_int(d, "dueDay1"),
            discount_percent=_dec(d, "discountPercent"),
            discount_days=_int(d, "discountDay"),
            last_modified=_dt(d, "lastModifiedDateTime"),
        )


@dataclass(frozen=True, slots=True)
class JournalLine:
    line_number: int | None
    account: str
    subaccount: tuple[LineSegment, ...]
    subaccount_number: str | None
    reference: str | None
    description: str | None
    transaction_description: str | None
    debit: Decimal  # in the batch currency (debitAmountInCurrency)
    credit: Decimal
    debit_base: Decimal | None  # in the company's base currency (debitAmount)
    credit_base: Decimal | None

    @classmethod
    def from_dto(cls, d: dict[str, Any]) -> JournalLine:
        sub = _obj(d, "subaccount")
        return cls(
            line_number=_int(d, "lineNumber"),
            account=str(d.get("accountNumber") or ""),
            subaccount=_line_segments(sub.get("segments")),
            subaccount_number=_str(sub, "subaccountNumber"),
            reference=_str(d, "referenceNumber"),
            description=_str(d, "description"),
            transaction_description=_str(d, "transactionDescription"),
            debit=_amount(d, "debitAmountInCurrency"),
            credit=_amount(d, "creditAmountInCurrency"),
            debit_base=_dec(d, "debitAmount"),
            credit_base=_dec(d, "creditAmount"),
        )


@dataclass(frozen=True)
class JournalTransaction:
    batch_number: str
    status: str | None
    hold: bool | None
    module: str | None
    transaction_date: datetime | None
    financial_period: str | None  # YYYYMM
    currency: str | None
    description: str | None
    lines: tuple[JournalLine, ...]
    debit_total: Decimal | None = None  # in the batch currency
    credit_total: Decimal | None = None
    branch: str | None = None
    ledger: str | None = None
    last_modified: datetime | None = None
    timestamp: str | None = None  # the body's timeStamp (same version as the ETag)
    etag: str | None = None  # the ETag header; only single GETs carry one
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dto(cls, d: dict[str, Any], *, etag: str | None = None) -> JournalTransaction:
        raw_lines = d.get("journalTransactionLines") or []
        return cls(
            batch_number=str(d.get("batchNumber") or ""),
            status=_str(d, "status"),
            hold=_bool(d, "hold"),
            module=_str(d, "module"),
            transaction_date=_dt(d, "transactionDate"),
            financial_period=_str(d, "financialPeriod"),
            currency=_str(d, "currencyId"),
            description=_str(d, "description"),
            lines=tuple(JournalLine.from_dto(x) for x in raw_lines if isinstance(x, dict)),
            debit_total=_dec(d, "debitTotalInCurrency"),
            credit_total=_dec(d, "creditTotalInCurrency"),
            branch=_str(d, "branch"),
            ledger=_str(d, "ledger"),
            last_modified=_dt(d, "lastModifiedDateTime"),
            timestamp=_str(d, "timeStamp"),
            etag=etag,
            raw=d,
        )

    @property
    def references(self) -> frozenset[str]:
        return frozenset(line.reference for line in self.lines if line.reference)


@dataclass(frozen=True, slots=True)
class CreatedJournal:
    batch_number: str
    etag: str | None
    location: str


def in_utc(record: _R, zone: tzinfo) -> _R:
    """``record`` with every ``last_modified`` (its nested records' too) as aware UTC: Visma writes
    them without an offset in ``zone`` (the company/server zone); an offset it did send is kept.
    Other datetimes (a transaction date, a VAT code's end) are calendar values and stay as read."""
    if not dataclasses.is_dataclass(record) or isinstance(record, type):
        return record
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "last_modified" and isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            changes[f.name] = aware.astimezone(UTC)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            changes[f.name] = tuple(in_utc(v, zone) for v in value)
    return dataclasses.replace(record, **changes) if changes else record
