"""The simulated company: master data, journal transactions, versions and the clock.

Everything here is plain Python and synchronous; the ASGI app (``app.py``) serialises access with a
lock. Money is ``Decimal`` throughout. Read DTOs are rendered by the ``*_dto`` methods and omit
null-valued fields, because the Visma OpenAPI files declare no field nullable (see docs/simulator.md).
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from ml_connector.sim.visma.attachments import Attachment
from ml_connector.sim.visma.errors import SimHTTPError, bad_request, not_found, precondition_failed

COMPANY_TZ = ZoneInfo("Europe/Oslo")
CENT = Decimal("0.01")
ZERO = Decimal(0)


# --------------------------------------------------------------------------------------------- clock


class Clock:
    """Company-local wall clock (naive, millisecond precision), strictly increasing per call.

    Strictly increasing so that "modified after T" filters are exact in tests. ``offset`` lets tests
    move time forward.
    """

    def __init__(self) -> None:
        self._last: datetime | None = None
        self.offset = timedelta(0)

    def now(self) -> datetime:
        current = datetime.now(COMPANY_TZ).replace(tzinfo=None) + self.offset
        current = current.replace(microsecond=current.microsecond // 1000 * 1000)
        if self._last is not None and current <= self._last:
            current = self._last + timedelta(milliseconds=1)
        self._last = current
        return current


def fmt_dt(value: datetime) -> str:
    """Visma style: ``2024-02-12T13:37:00.533`` (no offset; company-local time)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def fmt_date(value: date) -> str:
    return value.strftime("%Y-%m-%dT00:00:00")


_DT_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
)


def parse_filter_datetime(text: str, name: str = "lastModifiedDateTime") -> datetime:
    """The five formats visma-api.md §3.5 lists for ``lastModifiedDateTime``."""
    for pattern in _DT_FORMATS:
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007  (company-local, no offset)
        except ValueError:
            continue
    raise bad_request(f"Invalid value '{text}' for '{name}'.")


def parse_dto_datetime(text: str, name: str) -> datetime:
    """A ``DtoValueOfDateTime`` value; an offset, if any, is dropped (company-local time)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid date-time '{text}' for '{name}'.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(COMPANY_TZ).replace(tzinfo=None)
    return parsed


CONDITIONS: dict[str, Callable[[datetime, datetime], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def modified_filter(
    value: str | None, condition: str | None, *, condition_required: bool = True
) -> Callable[[datetime], bool]:
    """``lastModifiedDateTime`` + ``lastModifiedDateTimeCondition`` ("mutually inclusive")."""
    if value is None and condition is None:
        return lambda _when: True
    if value is None:
        raise bad_request("lastModifiedDateTimeCondition requires lastModifiedDateTime.")
    if condition is None:
        if condition_required:
            raise bad_request("lastModifiedDateTime requires lastModifiedDateTimeCondition.")
        condition = ">="
    if condition not in CONDITIONS:
        raise bad_request(f"Invalid lastModifiedDateTimeCondition '{condition}'.")
    bound = parse_filter_datetime(value)
    compare = CONDITIONS[condition]
    return lambda when: compare(when, bound)


# ------------------------------------------------------------------------------------ versions / ETag


def timestamp_of(version: int) -> str:
    """A SQL-Server-rowversion-like ``timeStamp`` (base64 of 8 bytes), also the ETag value."""
    return base64.b64encode(version.to_bytes(8, "big")).decode("ascii")


def etag_of(version: int) -> str:
    return f'"{timestamp_of(version)}"'


def if_match_ok(header: str | None, version: int) -> bool:
    """``If-Match`` is optional; when present, any listed tag (quoted or not, W/ or not) may match."""
    if header is None or header.strip() == "" or header.strip() == "*":
        return True
    current = timestamp_of(version)
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == current:
            return True
    return False


# ------------------------------------------------------------------------------------------- helpers


def unwrap(obj: Any, key: str) -> Any:
    """Read a ``{"value": ...}`` wrapped field of an UpdateDto; ``None`` when absent."""
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        return None
    item = obj[key]
    if not isinstance(item, dict) or "value" not in item:
        raise bad_request(f"Field '{key}' must be an object of the form {{\"value\": ...}}.")
    return item["value"]


def as_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise bad_request(f"Field '{name}' must be a number.")
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    raise bad_request(f"Field '{name}' must be a number.")


def as_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Field '{name}' must be a string.")
    return value


def as_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"Field '{name}' must be a boolean.")
    return value


def prune(obj: Any) -> Any:
    """Drop ``None`` values recursively (the OpenAPI files declare no field nullable)."""
    if isinstance(obj, dict):
        return {k: prune(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [prune(v) for v in obj]
    return obj


def pruned(obj: dict[str, Any]) -> dict[str, Any]:
    """:func:`prune` for a DTO object."""
    return {k: prune(v) for k, v in obj.items() if v is not None}


def with_metadata(items: list[dict[str, Any]], total: int, max_page: int) -> list[dict[str, Any]]:
    meta = {"totalCount": total, "maxPageSize": max_page}
    return [{**item, "metadata": dict(meta)} for item in items]


def page_slice(items: list[Any], page_number: int | None, page_size: int | None, max_page: int) -> list[Any]:
    number = 1 if page_number is None else page_number
    size = max_page if page_size is None else min(page_size, max_page)
    if number < 1 or size < 1:
        raise bad_request("pageNumber and pageSize must be positive.")
    start = (number - 1) * size
    return items[start : start + size]


# -------------------------------------------------------------------------------------------- entities


@dataclass
class Account:
    account_id: int
    number: str
    description: str
    type: str  # Asset | Liability | Income | Expense
    account_class: str
    version: int
    last_modified: datetime
    active: bool = True
    cash_account: bool = False
    control_account_module: str | None = None
    allow_manual_entry: bool = True
    currency: str | None = None
    post_option: str = "Detail"
    tax_category: str | None = None

    def dto(self) -> dict[str, Any]:
        return pruned(
            {
                "accountID": self.account_id,
                "accountCD": self.number,
                "accountClass": self.account_class,
                "type": self.type,
                "active": self.active,
                "description": self.description,
                "useDefaultSub": False,
                "postOption": self.post_option,
                "currency": self.currency,
                "taxCategory": self.tax_category,
                "cashAccount": self.cash_account,
                "publicCode1": self.number,
                "lastModifiedDateTime": fmt_dt(self.last_modified),
                "externalCode1Info": {},
                "externalCode2Info": {},
                "analisysCodeInfo": {},
                "controlAccountModule": self.control_account_module,
                "allowManualEntry": self.allow_manual_entry,
                "timeStamp": timestamp_of(self.version),
            }
        )


@dataclass
class SegmentValue:
    segment_id: int
    value_id: str
    description: str
    active: bool
    version: int
    last_modified: datetime
    internal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    public_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def dto(self) -> dict[str, Any]:
        return {
            "internalId": self.internal_id,
            "segmentId": self.segment_id,
            "valueId": self.value_id,
            "description": self.description,
            "publicId": self.public_id,
            "active": self.active,
            "timeStamp": timestamp_of(self.version),
            "lastModified": fmt_dt(self.last_modified),
        }


@dataclass
class Segment:
    segment_id: int
    description: str
    length: int
    version: int
    last_modified: datetime
    values: dict[str, SegmentValue] = field(default_factory=dict)
    validate: bool = True
    internal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    public_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def dto(self, values: Iterable[SegmentValue] | None = None) -> dict[str, Any]:
        chosen = list(self.values.values()) if values is None else list(values)
        return {
            "internalId": self.internal_id,
            "segmentId": self.segment_id,
            "description": self.description,
            "length": self.length,
            "publicId": self.public_id,
            "timeStamp": timestamp_of(self.version),
            "lastModified": fmt_dt(self.last_modified),
            "validate": self.validate,
            "segmentValues": [v.dto() for v in sorted(chosen, key=lambda v: v.value_id)],
            "isAutoNumber": False,
            "consolNumChar": 0,
            "consolOrder": 0,
        }


@dataclass
class Subaccount:
    subaccount_id: int
    values: tuple[str, ...]  # one value per segment, in segment order
    description: str
    version: int
    last_modified: datetime
    active: bool = True

    @property
    def number(self) -> str:
        return "-".join(self.values)


@dataclass
class FinancialPeriod:
    year: int
    period: int
    active: bool = True
    closed_in_gl: bool = False
    closed_in_ap: bool = False

    @property
    def period_id(self) -> str:
        return f"{self.year:04d}{self.period:02d}"

    @property
    def start(self) -> date:
        return date(self.year, self.period, 1)

    @property
    def end(self) -> date:
        if self.period == 12:
            return date(self.year, 12, 31)
        return date(self.year, self.period + 1, 1) - timedelta(days=1)

    def dto(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "period": self.period_id,
            "startDate": fmt_date(self.start),
            "endDate": fmt_date(self.end),
            "description": self.start.strftime("%B %Y"),
            "active": self.active,
            "closedInSupplierLedger": self.closed_in_ap,
            "closedInCustomerLedger": self.closed_in_gl,
            "closedInInventoryManagement": self.closed_in_gl,
            "closedInGeneralLedger": self.closed_in_gl,
            "closedInCashManagement": self.closed_in_gl,
            "closedInFixedAssets": self.closed_in_gl,
        }


@dataclass
class Supplier:
    internal_id: int
    number: str
    version: int
    last_modified: datetime
    fields: dict[str, Any]  # SupplierDto fields other than the ones managed here

    def dto(self) -> dict[str, Any]:
        body = {
            "internalId": self.internal_id,
            "number": self.number,
            **copy.deepcopy(self.fields),
            "lastModifiedDateTime": fmt_dt(self.last_modified),
            "timeStamp": timestamp_of(self.version),
        }
        return pruned(body)


@dataclass
class Currency:
    id: str
    description: str
    symbol: str
    is_base: bool = False
    decimal_precision: int = 2
    rate_to_base: Decimal = Decimal(1)

    def dto(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "symbol": self.symbol,
            "isBaseCurrency": self.is_base,
            "decimalPrecision": self.decimal_precision,
            "isUsedForAccounting": True,
        }


@dataclass
class VatCode:
    """A VAT id (``VatInformationDto``): valid until ``not_valid_after``, one rate schedule row.

    ``reverseVat`` and ``glAccounts`` (``vatPayableAccount``, ``vatClaimableAccount``) are fields of
    Visma's ``VatInformationDto`` (confirmed in the generated ``VatInformationDto`` model of a Visma.net
    client; the accounts' inner shape ``{number}`` is inferred). A reverse-charge id is computed like any
    other and booked on both accounts: output VAT on the payable one, deductible input on the claimable.
    """

    vat_id: str
    description: str
    type: str  # Vat | ReverseVat | ExemptVat | ...
    rate: Decimal
    last_modified: datetime
    group_type: str = "Input"
    not_valid_after: datetime | None = None
    payable_account: str | None = None  # output VAT (glAccounts.vatPayableAccount)
    claimable_account: str | None = None  # deductible input VAT (glAccounts.vatClaimableAccount)

    @property
    def reverse(self) -> bool:
        return self.type == "ReverseVat"

    def dto(self) -> dict[str, Any]:
        accounts = {
            "vatPayableAccount": {"number": self.payable_account} if self.payable_account else None,
            "vatClaimableAccount": {"number": self.claimable_account} if self.claimable_account else None,
        }
        return pruned(
            {
                "vatId": self.vat_id,
                "description": self.description,
                "type": self.type,
                "reverseVat": self.reverse,
                "notValidAfter": fmt_dt(self.not_valid_after) if self.not_valid_after else None,
                "schedules": [
                    {"startDate": "2017-01-01T00:00:00", "vatRate": self.rate, "groupType": self.group_type}
                ],
                "lastModifiedDateTime": fmt_dt(self.last_modified),
                "glAccounts": pruned(accounts) or None,
            }
        )


@dataclass
class CreditTerm:
    terms_id: str
    description: str
    due_days: int
    last_modified: datetime
    visible_to: str = "AL"  # AL all | VE suppliers | CU customers | DS disabled
    discount_percent: Decimal = Decimal(0)
    discount_days: int = 0

    def dto(self) -> dict[str, Any]:
        return {
            "termsId": self.terms_id,
            "description": self.description,
            "visibleTo": self.visible_to,
            "dueDateType": "N",
            "dueDay1": self.due_days,
            "discountType": "N",
            "discountDay": self.discount_days,
            "discountPercent": self.discount_percent,
            "instalmentType": "S",
            "lastModifiedDateTime": fmt_dt(self.last_modified),
        }


@dataclass
class Ledger:
    internal_id: int
    number: str
    description: str
    balance_type: str
    currency_id: str
    last_modified: datetime

    def dto(self) -> dict[str, Any]:
        return {
            "internalId": self.internal_id,
            "number": self.number,
            "description": self.description,
            "balanceType": self.balance_type,
            "currencyId": self.currency_id,
            "consolidationSource": False,
            "branchAccounting": False,
            "lastModifiedDateTime": fmt_dt(self.last_modified),
            "postInterCompany": False,
        }


@dataclass
class Branch:
    branch_id: int
    number: str
    name: str
    ledger: str
    currency_id: str
    last_modified: datetime
    corporate_id: str | None = None
    vat_registration_id: str | None = None
    active: bool = True


@dataclass
class JournalLine:
    line_number: int
    account: str
    subaccount: Subaccount
    reference_number: str | None
    description: str | None
    debit_in_currency: Decimal
    credit_in_currency: Decimal
    debit: Decimal
    credit: Decimal
    vat_code_id: str | None = None
    branch: str | None = None
    uom: str | None = None
    quantity: Decimal = ZERO
    note: str | None = None
    project: str | None = None


@dataclass
class JournalBatch:
    batch_number: str
    status: str
    hold: bool
    transaction_date: datetime
    financial_period: str  # YYYYPP
    ledger: str
    currency_id: str
    exchange_rate: Decimal
    description: str | None
    branch: str
    lines: list[JournalLine]
    version: int
    last_modified: datetime
    created: datetime
    auto_reversing: bool = False
    control_total_in_currency: Decimal = ZERO
    transaction_code: str | None = None
    attachments: dict[str, Attachment] = field(default_factory=dict)  # by file name

    @property
    def debit_total(self) -> Decimal:
        return sum((ln.debit for ln in self.lines), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((ln.credit for ln in self.lines), ZERO)

    @property
    def debit_total_in_currency(self) -> Decimal:
        return sum((ln.debit_in_currency for ln in self.lines), ZERO)

    @property
    def credit_total_in_currency(self) -> Decimal:
        return sum((ln.credit_in_currency for ln in self.lines), ZERO)

    @property
    def balanced(self) -> bool:
        return self.debit_total_in_currency == self.credit_total_in_currency


# ------------------------------------------------------------------------------------------- company


@dataclass
class Company:
    """Identity of the simulated company (what the token and ``ipp-company-id`` must match)."""

    name: str = "Fjordvarme AS"
    company_id: str = "1234567"
    tenant_id: str = "8d0f4a4e-2f4b-4a65-9c39-1c6f0e5b7a21"
    customer_tenant_id: str = "5b1e7f2c-0d3a-4c8e-a1b2-9f8e7d6c5b4a"
    base_currency: str = "NOK"


class VismaState:
    """All simulated data of one company."""

    def __init__(self, company: Company | None = None) -> None:
        self.company = company or Company()
        self.clock = Clock()
        self._version = 0x1000
        self._ids = 100
        self.accounts: dict[str, Account] = {}
        self.dimension_id = "SUBACCOUNT"
        self.dimension_description = "Subaccount"
        self.segments: dict[int, Segment] = {}
        self.subaccounts: dict[tuple[str, ...], Subaccount] = {}
        self.suppliers: dict[str, Supplier] = {}
        self.currencies: dict[str, Currency] = {}
        self.vat_codes: dict[str, VatCode] = {}
        self.credit_terms: dict[str, CreditTerm] = {}
        self.ledgers: dict[str, Ledger] = {}
        self.branches: dict[str, Branch] = {}
        self.periods: dict[str, FinancialPeriod] = {}
        self.journal: dict[str, JournalBatch] = {}
        self.next_batch = 1
        self.batch_number_width = 6
        self.max_page_size = 1000
        self.journal_max_page_size = 500

    # ------------------------------------------------------------------ ids and versions

    def next_version(self) -> int:
        self._version += 1
        return self._version

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # ------------------------------------------------------------------ master data (seed and /_sim/)

    def add_account(
        self,
        number: str,
        description: str,
        type: str,
        account_class: str,
        **options: Any,
    ) -> Account:
        if type not in {"Asset", "Liability", "Income", "Expense"}:
            raise bad_request(f"Invalid account type '{type}'.")
        allowed = {
            "active",
            "cash_account",
            "control_account_module",
            "allow_manual_entry",
            "currency",
            "post_option",
            "tax_category",
        }
        unknown = set(options) - allowed
        if unknown:
            raise bad_request(f"Unknown account option(s): {sorted(unknown)}")
        existing = self.accounts.get(number)
        account = Account(
            account_id=existing.account_id if existing else self.next_id(),
            number=number,
            description=description,
            type=type,
            account_class=account_class,
            version=self.next_version(),
            last_modified=self.clock.now(),
            **options,
        )
        self.accounts[number] = account
        return account

    def update_account(self, number: str, **changes: Any) -> Account:
        account = self.accounts.get(number)
        if account is None:
            raise not_found(f"Account {number} not found.")
        for key, value in changes.items():
            if not hasattr(account, key) or key in {"account_id", "number", "version", "last_modified"}:
                raise bad_request(f"Cannot change account field '{key}'.")
            setattr(account, key, value)
        account.version = self.next_version()
        account.last_modified = self.clock.now()
        return account

    def add_segment(self, segment_id: int, description: str, length: int) -> Segment:
        segment = Segment(
            segment_id=segment_id,
            description=description,
            length=length,
            version=self.next_version(),
            last_modified=self.clock.now(),
        )
        self.segments[segment_id] = segment
        return segment

    def add_segment_value(
        self, segment_id: int, value_id: str, description: str, active: bool = True
    ) -> SegmentValue:
        segment = self.segments.get(segment_id)
        if segment is None:
            raise not_found(f"Segment {segment_id} of {self.dimension_id} not found.")
        if len(value_id) != segment.length:
            raise bad_request(
                f"Segment value '{value_id}' must be {segment.length} characters long for segment "
                f"{segment_id} ({segment.description})."
            )
        now = self.clock.now()
        existing = segment.values.get(value_id)
        if existing is not None:
            existing.description = description
            existing.active = active
            existing.version = self.next_version()
            existing.last_modified = now
            value = existing
        else:
            value = SegmentValue(
                segment_id=segment_id,
                value_id=value_id,
                description=description,
                active=active,
                version=self.next_version(),
                last_modified=now,
            )
            segment.values[value_id] = value
        segment.version = self.next_version()
        segment.last_modified = now
        return value

    def ensure_subaccount(self, values: tuple[str, ...], description: str | None = None) -> Subaccount:
        sub = self.subaccounts.get(values)
        if sub is None:
            sub = Subaccount(
                subaccount_id=self.next_id(),
                values=values,
                description=description or self._subaccount_description(values),
                version=self.next_version(),
                last_modified=self.clock.now(),
            )
            self.subaccounts[values] = sub
        return sub

    def _subaccount_description(self, values: tuple[str, ...]) -> str:
        parts = []
        for segment, value in zip(self._ordered_segments(), values, strict=True):
            seg_value = segment.values.get(value)
            parts.append(seg_value.description if seg_value else value)
        return " / ".join(parts)

    def _ordered_segments(self) -> list[Segment]:
        return [self.segments[k] for k in sorted(self.segments)]

    def add_supplier(self, number: str, fields: dict[str, Any]) -> Supplier:
        if not number:
            raise bad_request("Supplier number is required.")
        existing = self.suppliers.get(number)
        supplier = Supplier(
            internal_id=existing.internal_id if existing else self.next_id(),
            number=number,
            version=self.next_version(),
            last_modified=self.clock.now(),
            fields=copy.deepcopy(fields),
        )
        self.suppliers[number] = supplier
        return supplier

    def modify_supplier(self, number: str, changes: dict[str, Any]) -> Supplier:
        supplier = self.suppliers.get(number)
        if supplier is None:
            raise not_found(f"Supplier {number} not found.")
        _deep_merge(supplier.fields, changes)
        supplier.version = self.next_version()
        supplier.last_modified = self.clock.now()
        return supplier

    def set_vat_code(self, vat_id: str, **fields: Any) -> VatCode:
        """Create or change a VAT id (fields of :class:`VatCode`); it counts as modified now."""
        existing = self.vat_codes.get(vat_id)
        values: dict[str, Any] = {"description": vat_id, "type": "Vat", "rate": Decimal(0)}
        if existing is not None:
            kept = ("description", "type", "rate", "group_type", "payable_account", "claimable_account")
            values = {k: getattr(existing, k) for k in kept}
            values["not_valid_after"] = existing.not_valid_after
        values.update(fields)
        code = VatCode(vat_id=vat_id, last_modified=self.clock.now(), **values)
        self.vat_codes[vat_id] = code
        return code

    def set_credit_term(self, terms_id: str, **fields: Any) -> CreditTerm:
        """Create or change a credit term (fields of :class:`CreditTerm`); modified now."""
        existing = self.credit_terms.get(terms_id)
        values: dict[str, Any] = {"description": terms_id, "due_days": 0}
        if existing is not None:
            keep = ("description", "due_days", "visible_to", "discount_percent", "discount_days")
            values = {k: getattr(existing, k) for k in keep}
        values.update(fields)
        term = CreditTerm(terms_id=terms_id, last_modified=self.clock.now(), **values)
        self.credit_terms[terms_id] = term
        return term

    def add_period(self, year: int, period: int, *, closed_in_gl: bool = False, active: bool = True) -> None:
        fp = FinancialPeriod(year=year, period=period, closed_in_gl=closed_in_gl, active=active)
        self.periods[fp.period_id] = fp

    def set_period_closed(self, period_id: str, closed: bool) -> FinancialPeriod:
        fp = self.periods.get(period_id)
        if fp is None:
            raise not_found(f"Financial period {period_id} not found.")
        fp.closed_in_gl = closed
        return fp

    # ------------------------------------------------------------------ read DTOs

    def subaccount_dto(self, sub: Subaccount) -> dict[str, Any]:
        segments = []
        for segment, value in zip(self._ordered_segments(), sub.values, strict=True):
            seg_value = segment.values.get(value)
            segments.append(
                {
                    "segmentId": segment.segment_id,
                    "segmentDescription": segment.description,
                    "segmentValue": value,
                    "segmentValueDescription": seg_value.description if seg_value else "",
                }
            )
        return {
            "subaccountNumber": sub.number,
            "subaccountId": sub.subaccount_id,
            "description": sub.description,
            "lastModifiedDateTime": fmt_dt(sub.last_modified),
            "active": sub.active,
            "segments": segments,
            "timeStamp": timestamp_of(sub.version),
        }

    def branch_dto(self, branch: Branch) -> dict[str, Any]:
        ledger = self.ledgers.get(branch.ledger)
        currency = self.currencies.get(branch.currency_id)
        return pruned(
            {
                "branchId": branch.branch_id,
                "number": branch.number,
                "name": branch.name,
                "organizationId": 1,
                "isMainBranch": True,
                "isActive": branch.active,
                "lastModifiedDateTime": fmt_dt(branch.last_modified),
                "corporateId": branch.corporate_id,
                "vatRegistrationId": branch.vat_registration_id,
                "currency": (
                    {"id": currency.id, "description": currency.description, "symbol": currency.symbol}
                    if currency
                    else None
                ),
                "ledger": {"id": ledger.number, "description": ledger.description} if ledger else None,
            }
        )

    def journal_dto(
        self, batch: JournalBatch, lines: list[JournalLine] | None = None, *, with_attachments: bool = False
    ) -> dict[str, Any]:
        """The JournalTransactionDto; lists show attachments only when expanded (empty otherwise)."""
        ledger = self.ledgers.get(batch.ledger)
        chosen = batch.lines if lines is None else lines
        return pruned(
            {
                "module": "ModuleGL",
                "batchNumber": batch.batch_number,
                "status": batch.status,
                "hold": batch.hold,
                "transactionDate": fmt_dt(batch.transaction_date),
                "postPeriod": batch.financial_period[4:] + batch.financial_period[:4],
                "financialPeriod": batch.financial_period,
                "ledger": batch.ledger,
                "ledgerDescription": ledger.description if ledger else None,
                "currencyId": batch.currency_id,
                "exchangeRate": batch.exchange_rate,
                "autoReversing": batch.auto_reversing,
                "reversingEntry": False,
                "description": batch.description,
                "debitTotal": batch.debit_total,
                "debitTotalInCurrency": batch.debit_total_in_currency,
                "creditTotal": batch.credit_total,
                "creditTotalInCurrency": batch.credit_total_in_currency,
                "controlTotal": (batch.control_total_in_currency * batch.exchange_rate).quantize(CENT),
                "controlTotalInCurrency": batch.control_total_in_currency,
                "createVatTransaction": False,
                "skipVatAmountValidation": False,
                "lastModifiedDateTime": fmt_dt(batch.last_modified),
                "transactionCode": batch.transaction_code,
                "branch": batch.branch,
                "timeStamp": timestamp_of(batch.version),
                "journalTransactionLines": [self._line_dto(batch, ln) for ln in chosen],
                "attachments": [a.dto() for a in batch.attachments.values()] if with_attachments else [],
            }
        )

    def _line_dto(self, batch: JournalBatch, line: JournalLine) -> dict[str, Any]:
        account = self.accounts.get(line.account)
        return {
            "lineNumber": line.line_number,
            "accountNumber": line.account,
            "description": account.description if account else None,
            "subaccount": self.subaccount_dto(line.subaccount),
            "referenceNumber": line.reference_number,
            "debitAmount": line.debit,
            "debitAmountInCurrency": line.debit_in_currency,
            "creditAmount": line.credit,
            "creditAmountInCurrency": line.credit_in_currency,
            "transactionDescription": line.description,
            "vatCode": {"id": line.vat_code_id} if line.vat_code_id else None,
            "branch": line.branch or batch.branch,
            "transactionType": "GL",
            "module": "ModuleGL",
            "uom": line.uom,
            "project": {"id": line.project} if line.project else None,
            "attachments": [],
            "quantity": line.quantity,
            "note": line.note,
        }

    # ------------------------------------------------------------------ journal transactions

    def create_journal(self, body: Any) -> JournalBatch:
        """Validate and store a ``JournalTransactionUpdateDto``; raise 400 on any rule violation."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JournalTransactionUpdateDto object.")
        period_id = self._resolve_period(body)
        tx_date_raw = unwrap(body, "transactionDate")
        if tx_date_raw is None:
            raise bad_request("Mandatory field 'transactionDate' is missing.")
        tx_date = parse_dto_datetime(as_str(tx_date_raw, "transactionDate"), "transactionDate")
        ledger = unwrap(body, "ledger")
        branch_no = unwrap(body, "branch")
        branch = self._branch(None if branch_no is None else as_str(branch_no, "branch"))
        ledger_no = branch.ledger if ledger is None else as_str(ledger, "ledger")
        if ledger_no not in self.ledgers:
            raise bad_request(f"Ledger '{ledger_no}' does not exist.")
        currency_raw = unwrap(body, "currencyId")
        currency_id = (
            self.company.base_currency if currency_raw is None else as_str(currency_raw, "currencyId")
        )
        currency = self.currencies.get(currency_id)
        if currency is None:
            raise bad_request(f"Currency '{currency_id}' does not exist.")
        rate_raw = unwrap(body, "exchangeRate")
        if currency.is_base:
            rate = Decimal(1)
        elif rate_raw is not None:
            rate = as_decimal(rate_raw, "exchangeRate")
            if rate <= 0:
                raise bad_request("exchangeRate must be positive.")
        else:
            rate = currency.rate_to_base
        hold_raw = unwrap(body, "hold")
        hold = False if hold_raw is None else as_bool(hold_raw, "hold")
        description_raw = unwrap(body, "description")
        description = None if description_raw is None else as_str(description_raw, "description")
        control_raw = unwrap(body, "controlTotalInCurrency")
        control = ZERO if control_raw is None else as_decimal(control_raw, "controlTotalInCurrency")
        auto_rev_raw = unwrap(body, "autoReversing")
        tx_code_raw = unwrap(body, "transactionCode")

        raw_lines = body.get("journalTransactionLines")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise bad_request("A journal transaction needs at least one line in 'journalTransactionLines'.")
        lines = [self._make_line(i, raw, rate) for i, raw in enumerate(raw_lines, start=1)]

        batch_no = self._batch_number(body)
        now = self.clock.now()
        batch = JournalBatch(
            batch_number=batch_no,
            status="Hold",
            hold=hold,
            transaction_date=tx_date,
            financial_period=period_id,
            ledger=ledger_no,
            currency_id=currency_id,
            exchange_rate=rate,
            description=description,
            branch=branch.number,
            lines=lines,
            version=self.next_version(),
            last_modified=now,
            created=now,
            auto_reversing=False if auto_rev_raw is None else as_bool(auto_rev_raw, "autoReversing"),
            control_total_in_currency=control,
            transaction_code=None if tx_code_raw is None else as_str(tx_code_raw, "transactionCode"),
        )
        # "You can clear the Hold check box only if the batch has total debits equal to total
        # credits" (spec, `hold`): an unbalanced batch is stored on hold.
        if not batch.balanced:
            batch.hold = True
        batch.status = "Hold" if batch.hold else "Balanced"
        self.journal[batch_no] = batch
        return batch

    def _batch_number(self, body: dict[str, Any]) -> str:
        override = unwrap(body, "overrideNumberSeries")
        requested = unwrap(body, "batchNumber")
        if override is True and requested is not None:
            number = as_str(requested, "batchNumber")
            if number in self.journal:
                raise bad_request(f"Batch number {number} already exists.")
            return number
        while True:
            number = str(self.next_batch).zfill(self.batch_number_width)
            self.next_batch += 1
            if number not in self.journal:
                return number

    def _branch(self, number: str | None) -> Branch:
        if number is None:
            return next(iter(self.branches.values()))
        branch = self.branches.get(number.strip())
        if branch is None or not branch.active:
            raise bad_request(f"Branch '{number}' does not exist.")
        return branch

    def _resolve_period(self, body: dict[str, Any]) -> str:
        fin = unwrap(body, "financialPeriod")
        post = unwrap(body, "postPeriod")
        period_id: str | None = None
        if fin is not None:
            fin_s = as_str(fin, "financialPeriod")
            if len(fin_s) != 6 or not fin_s.isdigit():
                raise bad_request(f"Invalid financialPeriod '{fin_s}'; the format is YYYYMM.")
            period_id = fin_s
        if post is not None:
            post_s = as_str(post, "postPeriod")
            if len(post_s) != 6 or not post_s.isdigit():
                raise bad_request(f"Invalid postPeriod '{post_s}'; the format is MMYYYY.")
            from_post = post_s[2:] + post_s[:2]
            if period_id is not None and period_id != from_post:
                raise bad_request(
                    f"postPeriod '{post_s}' and financialPeriod '{period_id}' name different periods."
                )
            period_id = from_post
        if period_id is None:
            tx_date_raw = unwrap(body, "transactionDate")
            if tx_date_raw is None:
                raise bad_request("Mandatory field 'financialPeriod' is missing.")
            tx_date = parse_dto_datetime(as_str(tx_date_raw, "transactionDate"), "transactionDate")
            period_id = f"{tx_date.year:04d}{tx_date.month:02d}"
        fp = self.periods.get(period_id)
        label = f"{period_id[4:]}-{period_id[:4]}"
        if fp is None:
            raise bad_request(f"Financial period {label} does not exist.")
        if not fp.active:
            raise bad_request(f"Financial period {label} is inactive.")
        if fp.closed_in_gl:
            raise bad_request(f"Financial period {label} is closed in General Ledger.")
        return period_id

    def _make_line(self, index: int, raw: Any, rate: Decimal) -> JournalLine:
        where = f"Line {index}"
        if not isinstance(raw, dict):
            raise bad_request(f"{where}: a line must be a JournalTransactionLineUpdateDto object.")
        operation = raw.get("operation", "Insert")
        if operation != "Insert":
            raise bad_request(f"{where}: operation '{operation}' is not allowed when creating a batch.")
        account_raw = unwrap(raw, "accountNumber")
        if account_raw is None:
            raise bad_request(f"{where}: mandatory field 'accountNumber' is missing.")
        account_no = as_str(account_raw, "accountNumber")
        account = self.accounts.get(account_no)
        if account is None:
            raise bad_request(f"{where}: Account '{account_no}' does not exist.")
        if not account.active:
            raise bad_request(f"{where}: Account '{account_no}' is inactive.")
        if not account.allow_manual_entry:
            module = account.control_account_module or "?"
            raise bad_request(
                f"{where}: Account '{account_no}' is a control account for module {module} and "
                "cannot be used in manual journal entries."
            )
        subaccount = self._line_subaccount(where, raw.get("subaccount"))
        debit_raw = unwrap(raw, "debitAmountInCurrency")
        credit_raw = unwrap(raw, "creditAmountInCurrency")
        debit = ZERO if debit_raw is None else as_decimal(debit_raw, "debitAmountInCurrency")
        credit = ZERO if credit_raw is None else as_decimal(credit_raw, "creditAmountInCurrency")
        if debit != 0 and credit != 0:
            raise bad_request(f"{where}: a line can have a debit amount or a credit amount, not both.")
        line_no_raw = unwrap(raw, "lineNumber")
        qty_raw = unwrap(raw, "quantity")
        return JournalLine(
            line_number=index if line_no_raw is None else int(as_decimal(line_no_raw, "lineNumber")),
            account=account_no,
            subaccount=subaccount,
            reference_number=_opt_str(raw, "referenceNumber"),
            description=_opt_str(raw, "transactionDescription"),
            debit_in_currency=debit,
            credit_in_currency=credit,
            debit=(debit * rate).quantize(CENT, ROUND_HALF_UP),
            credit=(credit * rate).quantize(CENT, ROUND_HALF_UP),
            vat_code_id=_opt_str(raw, "vatCodeId"),
            branch=_opt_str(raw, "branch"),
            uom=_opt_str(raw, "uom"),
            quantity=ZERO if qty_raw is None else as_decimal(qty_raw, "quantity"),
            note=_opt_str(raw, "note"),
            project=_opt_str(raw, "project"),
        )

    def _line_subaccount(self, where: str, raw: Any) -> Subaccount:
        segments = self._ordered_segments()
        if raw is None:
            raise bad_request(f"{where}: mandatory field 'subaccount' is missing.")
        if not isinstance(raw, list):
            raise bad_request(f"{where}: 'subaccount' must be an array of {{segmentId, segmentValue}}.")
        chosen: dict[int, str] = {}
        for item in raw:
            if not isinstance(item, dict):
                raise bad_request(f"{where}: 'subaccount' items must be objects.")
            seg_id = item.get("segmentId")
            value = item.get("segmentValue")
            if not isinstance(seg_id, int) or isinstance(seg_id, bool) or not isinstance(value, str):
                raise bad_request(
                    f"{where}: each subaccount item needs an integer segmentId and a string segmentValue."
                )
            segment = self.segments.get(seg_id)
            if segment is None:
                raise bad_request(f"{where}: segment {seg_id} does not exist in {self.dimension_id}.")
            if seg_id in chosen:
                raise bad_request(f"{where}: segment {seg_id} is given twice.")
            seg_value = segment.values.get(value)
            if seg_value is None:
                raise bad_request(
                    f"{where}: '{value}' is not a valid value for segment {seg_id} ({segment.description}) "
                    f"of {self.dimension_id}."
                )
            if not seg_value.active:
                raise bad_request(
                    f"{where}: value '{value}' of segment {seg_id} ({segment.description}) is inactive."
                )
            chosen[seg_id] = value
        missing = [s.segment_id for s in segments if s.segment_id not in chosen]
        if missing:
            raise bad_request(f"{where}: subaccount segment(s) {missing} missing.")
        values = tuple(chosen[s.segment_id] for s in segments)
        sub = self.ensure_subaccount(values)
        if not sub.active:
            raise bad_request(f"{where}: subaccount {sub.number} is inactive.")
        return sub

    def get_journal(self, number: str) -> JournalBatch:
        batch = self.journal.get(number)
        if batch is None:
            raise not_found(f"Journal transaction {number} not found.")
        return batch

    def release_journal(self, number: str, if_match: str | None) -> JournalBatch:
        batch = self.get_journal(number)
        if not if_match_ok(if_match, batch.version):
            raise precondition_failed()
        if batch.status == "Released":
            raise bad_request(f"Batch {number} is already released.")
        if not batch.balanced:
            raise bad_request(f"Batch {number} is out of balance and cannot be released.")
        if batch.hold:
            raise bad_request(f"Batch {number} is on hold and cannot be released.")
        batch.status = "Released"
        batch.version = self.next_version()
        batch.last_modified = self.clock.now()
        return batch

    def list_journal(
        self,
        *,
        period_id: str | None,
        last_modified: str | None,
        status: str | None,
        branch: str | None,
        module: str | None,
        page_number: int | None,
        page_size: int | None,
        total_counts_batches: bool = False,
    ) -> list[dict[str, Any]]:
        """Pages count lines; ``totalCount`` counts lines too, or batches when
        ``total_counts_batches`` (the other reading of Visma's documentation)."""
        if period_id is None and last_modified is None:
            raise bad_request("Either 'periodId' or 'lastModifiedDateTime' must be provided.")
        since = None if last_modified is None else parse_filter_datetime(last_modified)
        statuses = _status_filter(status)
        if module is not None and module not in {"GL", "AP", "AR", "CM", "CA", "IN", "DR", "FA", "PM"}:
            raise bad_request(f"Invalid module '{module}'.")
        batches = [
            b
            for b in sorted(self.journal.values(), key=lambda b: b.batch_number)
            if (period_id is None or b.financial_period == period_id)
            and (since is None or b.last_modified >= since)
            and (statuses is None or b.status in statuses)
            and (branch is None or b.branch == branch)
            and (module is None or module == "GL")
        ]
        flat = [(b, ln) for b in batches for ln in b.lines]
        page = page_slice(flat, page_number, page_size, self.journal_max_page_size)
        out: list[dict[str, Any]] = []
        current: JournalBatch | None = None
        chunk: list[JournalLine] = []
        for batch, line in page:
            if batch is not current:
                if current is not None:
                    out.append(self.journal_dto(current, chunk))
                current, chunk = batch, []
            chunk.append(line)
        if current is not None:
            out.append(self.journal_dto(current, chunk))
        total = len(batches) if total_counts_batches else len(flat)
        return with_metadata(out, total, self.journal_max_page_size)

    def journal_snapshot(self) -> list[dict[str, Any]]:
        """Every stored batch with all its lines and attachments (for ``GET /_sim/journal``)."""
        batches = sorted(self.journal.values(), key=lambda b: b.batch_number)
        return [self.journal_dto(b, with_attachments=True) for b in batches]


def _status_filter(status: str | None) -> set[str] | None:
    if status is None:
        return None
    mapping = {
        "Hold": {"Hold"},
        "Balanced": {"Balanced"},
        "Unreleased": {"Hold", "Balanced"},
        "Unposted": {"Released"},
        "Posted": {"Posted"},
        "Voided": {"Voided"},
        "Scheduled": {"Scheduled"},
    }
    if status not in mapping:
        raise bad_request(f"Invalid status '{status}'.")
    return mapping[status]


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    value = unwrap(raw, key)
    return None if value is None else as_str(value, key)


def _deep_merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


__all__ = [
    "Account",
    "Branch",
    "Company",
    "Currency",
    "FinancialPeriod",
    "JournalBatch",
    "JournalLine",
    "Ledger",
    "Segment",
    "SegmentValue",
    "SimHTTPError",
    "Subaccount",
    "Supplier",
    "VismaState",
]
