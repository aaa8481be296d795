"""The Visma.net ERP client: async over httpx2, one token, one classifier, one retry policy.

Every API call carries ``Authorization``, ``ipp-company-id``, ``Accept: application/json`` (and
``Content-Type: application/json`` when it has a body) and explicit timeouts. Reads are retried
on ``RetriableDestinationError`` through ``retry_async`` (honouring ``Retry-After``). A create is
resent only when it certainly never reached Visma (connection refused, 429, 401 before the token
renewal); any other doubt raises ``AmbiguousDestinationError`` for the caller to settle with
``find_by_reference``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

import httpx2

from ml_connector import __version__
from ml_connector.adapters.visma import wire
from ml_connector.adapters.visma.auth import TokenCache, TokenStore
from ml_connector.adapters.visma.classify import classify_exception, classify_response, refusal
from ml_connector.adapters.visma.models import (
    Account,
    Branch,
    CreatedJournal,
    CreditTerm,
    Currency,
    FinancialPeriod,
    JournalTransaction,
    Ledger,
    Segment,
    SegmentValue,
    Subaccount,
    Supplier,
    VatCode,
    in_utc,
)
from ml_connector.adapters.visma.ratelimit import (
    InProcessBudget,
    RateBudget,
    RateState,
    parse_rate_headers,
    wait_for_slot,
)
from ml_connector.adapters.visma.rates import CURRENCY_RATE_PATH, CurrencyRate, rate_on
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.adapters.visma.supplier_invoices import (
    SUPPLIER_INVOICE_PATH,
    AttachmentInfo,
    CreatedDocument,
    CreatedSupplierInvoice,
    SupplierInvoiceRecord,
    attachments_of,
    supplier_invoice_dto,
)
from ml_connector.adapters.visma.supplier_payments import (
    SUPPLIER_PAYMENT_PATH,
    SupplierPaymentRecord,
    release_dto,
    supplier_payment_dto,
    void_payment_dto,
)
from ml_connector.adapters.visma.tls import tls_context
from ml_connector.adapters.visma.upload import Upload
from ml_connector.domain.journal import Voucher
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoucher
from ml_connector.errors import (
    AmbiguousDestinationError,
    DestinationError,
    FatalDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.retry import VISMA_POLICY, RetryPolicy, retry_async

log = logging.getLogger("ml_connector.visma")

JOURNAL_PATH = "/v2/journaltransaction"
_MAX_PAGES = 100_000


def _retry_hint(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, RetriableDestinationError) else None


def _quote_etag(etag: str) -> str:
    etag = etag.strip()
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def _released(response: httpx2.Response, what: str) -> str | None:
    """The new ETag after a 200 release; an ``actionResult`` of ``Failed`` is a refusal (with
    Visma's ``errorInfo``, classified by ``classify.refusal``)."""
    body = wire.loads(response.content) if response.content.strip() else None
    if isinstance(body, dict) and str(body.get("actionResult", "")).lower() == "failed":
        message = str(body.get("errorInfo") or "release failed")
        raise refusal(f"{what} failed: {message}", status=response.status_code, visma_message=message)
    return response.headers.get("etag")


def _created(response: httpx2.Response, path: str, context: dict[str, object]) -> tuple[str, str]:
    """(number, Location) of a supplier-ledger create (201 + Location, no body). Anything less is
    ``Ambiguous``: the document may exist, but its number is unknown."""
    location = response.headers.get("location")
    number = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]) if location else ""
    if response.status_code not in (200, 201) or not location or not number:
        raise AmbiguousDestinationError(
            f"POST {path} answered {response.status_code} without a usable Location; "
            "the document may exist but its number is unknown",
            status=response.status_code,
            context=context,
        )
    return number, location


def dated_within(when: datetime | None, date_from: date | None, date_to: date | None) -> bool:
    """Whether a document dated ``when`` is within [date_from, date_to] (an undated one only when
    there is no window): listings apply their window here too, so an ignored filter cannot widen it."""
    if when is None:
        return date_from is None and date_to is None
    day = when.date()
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


class _Releasable(Protocol):
    """A supplier document or payment as read back: is it released yet, and its status and ETag."""

    @property
    def released(self) -> bool: ...
    @property
    def status(self) -> str | None: ...
    @property
    def etag(self) -> str | None: ...


_R = TypeVar("_R")


class VismaClient:
    """``async with VismaClient(settings) as c: await c.accounts()``."""

    def __init__(
        self,
        settings: VismaSettings,
        transport: httpx2.AsyncBaseTransport | None = None,
        *,
        budget: RateBudget | None = None,
        policy: RetryPolicy = VISMA_POLICY,
        clock: Callable[[], float] = time.time,
        token_clock: Callable[[], float] = time.monotonic,
        tokens: TokenStore | None = None,
    ) -> None:
        """``tokens``: a store the token is kept in beyond this client (None: the client's own)."""
        self.settings = settings
        t = settings.timeout
        verify = tls_context(settings.ca_bundle)  # built once per process (tls.py)
        self._http = httpx2.AsyncClient(
            transport=transport,
            timeout=httpx2.Timeout(t, connect=t, read=t, write=t, pool=t),
            verify=verify,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": f"ml-connector/{__version__}"},
        )
        self.counters: Counter[str] = Counter()
        self.paced_seconds = 0.0
        self._budget: RateBudget = budget or InProcessBudget(low_water=settings.low_water)
        self._policy = policy
        self._clock = clock
        slot = tokens.slot(settings) if tokens is not None else None
        self._tokens = TokenCache(
            settings, self._http, clock=token_clock, on_fetch=self._count_token, slot=slot
        )
        self._tz = ZoneInfo(settings.server_timezone)
        # A queued (202) supplier-invoice release is read back this often, this far apart.
        self.release_polls = 10
        self.release_poll_interval = 1.0

    def __repr__(self) -> str:
        s = self.settings
        return f"VismaClient(api_url={s.api_url!r}, company_id={s.company_id!r}, client_id={s.client_id!r})"

    async def __aenter__(self) -> VismaClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def rate_state(self) -> RateState:
        return self._budget.snapshot()

    def _count_token(self) -> None:
        self.counters["token_requests"] += 1

    # ---------------------------------------------------------------- transport core

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        is_create: bool = False,
        op: str | None = None,
        upload: Upload | None = None,
    ) -> httpx2.Response:
        """``op`` names the operation in counters and logs (a path template, so that batch
        numbers do not become metric labels); it defaults to the path. ``upload``: a file sent
        as multipart/form-data instead of a JSON body."""
        what = f"{method} {op or path}"
        content = None if body is None else wire.dumps(body).encode("utf-8")
        if upload is not None:
            content, content_type = upload.multipart()
            headers = {**(headers or {}), "Content-Type": content_type}

        async def attempt() -> httpx2.Response:
            return await self._attempt(method, path, params, content, headers, is_create, what)

        def on_retry(attempt_no: int, exc: BaseException, delay: float) -> None:
            self.counters["retries"] += 1

        return await retry_async(
            attempt,
            policy=self._policy,
            retry_on=(RetriableDestinationError,),
            what=what,
            wait_hint=_retry_hint,
            on_retry=on_retry,
        )

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        content: bytes | None,
        extra: Mapping[str, str] | None,
        is_create: bool,
        what: str,
    ) -> httpx2.Response:
        renewed = False
        while True:
            token = await self._tokens.get()
            self.paced_seconds += await wait_for_slot(self._budget, self._clock)
            headers = {
                "Authorization": f"Bearer {token}",
                "ipp-company-id": self.settings.company_id,
                "Accept": "application/json",
            }
            if content is not None:
                headers["Content-Type"] = "application/json"
            if extra:
                headers.update(extra)
            self.counters["requests"] += 1
            self.counters[what] += 1
            started = time.monotonic()
            try:
                response = await self._http.request(
                    method, self.settings.api_base + path, params=params, content=content, headers=headers
                )
            except httpx2.HTTPError as exc:
                self.counters["transport_errors"] += 1
                # The call is over without an answer: the budget stops counting it as in flight.
                await self._budget.observe(RateState(), self._clock())
                err = classify_exception(exc, is_create=is_create, what=what)
                log.warning("%s: %s", what, err)
                raise err from exc
            log.debug("%s -> %d in %.3fs", what, response.status_code, time.monotonic() - started)
            # Every answer ends one call in flight, with or without rate-limit headers.
            state = parse_rate_headers(response.headers, self._clock())
            await self._budget.observe(state or RateState(), self._clock())
            if response.status_code == 401 and not renewed:
                renewed = True
                self.counters["token_renewals"] += 1
                self._tokens.invalidate(token)
                continue
            failure = classify_response(
                response, is_create=is_create, secrets=(self.settings.client_secret, token)
            )
            if failure is None:
                return response
            if response.status_code == 429:
                self.counters["throttled"] += 1
                wait = failure.retry_after if isinstance(failure, RetriableDestinationError) else None
                await self._budget.throttled(wait if wait is not None else 1.0, self._clock())
            raise failure

    async def _get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        response = await self._send("GET", path, params=params)
        return wire.loads(response.content) if response.content.strip() else None

    async def _get_list(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> list[dict[str, Any]]:
        data = await self._get_json(path, params)
        if data is None:
            return []
        if not isinstance(data, list):
            raise FatalDestinationError(f"GET {path}: expected a JSON array, got {type(data).__name__}")
        return [x for x in data if isinstance(x, dict)]

    async def _get_pages(
        self, path: str, params: Mapping[str, str | int], *, count_lines: bool = False
    ) -> list[dict[str, Any]]:
        """Every page of a paged list, or an error: a listing is complete only once a page comes
        back shorter than the page size, or empty. ``totalCount`` never ends it early (Visma does
        not say whether it counts journal lines or batches); it only keeps it going while it
        promises more than was read (so a silently capped page size cannot look like the end).
        ``count_lines``: journal pages may count lines, so a page is full when either its items or
        its lines fill it. A read error mid-scan propagates: the caller concludes nothing."""
        items = await self._get_pages_within(path, params, _MAX_PAGES, count_lines=count_lines)
        if items is None:
            raise RetriableDestinationError(
                f"GET {path}: still full after {_MAX_PAGES} pages; an unfinished listing concludes nothing"
            )
        return items

    async def _get_pages_within(
        self, path: str, params: Mapping[str, str | int], most: int, *, count_lines: bool = False
    ) -> list[dict[str, Any]] | None:
        """``_get_pages`` in at most ``most`` reads; None when the listing needs more (said by the
        first page's ``totalCount`` where it is given, else found on reading the last allowed page)."""
        size = self.settings.page_size
        items: list[dict[str, Any]] = []
        lines_read = 0
        for page in range(1, most + 1):
            batch = await self._get_list(path, {**params, "pageNumber": page, "pageSize": size})
            if not batch:
                return items
            items.extend(batch)
            meta = batch[0].get("metadata") or {}
            total = meta.get("totalCount") if isinstance(meta, dict) else None
            max_size = meta.get("maxPageSize") if isinstance(meta, dict) else None
            effective = min(size, int(max_size)) if isinstance(max_size, int) and max_size > 0 else size
            lines = sum(len(x.get("journalTransactionLines") or []) for x in batch) if count_lines else 0
            lines_read += lines
            full = max(len(batch), lines) >= effective
            promised = isinstance(total, int) and total > max(len(items), lines_read)
            if not full and not promised:
                return items
            # A listing ends at a page shorter than the page size: total // size full pages and one more.
            if page == 1 and isinstance(total, int) and total // effective + 1 > most:
                return None  # more reads than allowed: not worth reading on
        return None

    def _utc(self, record: _R) -> _R:
        """The one place Visma's offset-less times become aware UTC (models.in_utc)."""
        return in_utc(record, self._tz)

    def _since(self, modified_since: datetime | None, *, condition: bool = True) -> dict[str, str | int]:
        if modified_since is None:
            return {}
        dt = modified_since
        if dt.tzinfo is not None:
            dt = dt.astimezone(self._tz).replace(tzinfo=None)
        text = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}"
        params: dict[str, str | int] = {"lastModifiedDateTime": text}
        if condition:
            params["lastModifiedDateTimeCondition"] = ">="
        return params

    # ---------------------------------------------------------------- master data

    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]:
        items = await self._get_list("/v1/account", self._since(modified_since))
        return [self._utc(Account.from_dto(d)) for d in items]

    async def subaccount_dimension(self) -> list[Segment]:
        data = await self._get_json("/v1/dimension/SUBACCOUNT", {"expandSegmentsValues": "true"})
        segments = data.get("segments") if isinstance(data, dict) else None
        return [self._utc(Segment.from_dto(s)) for s in segments or [] if isinstance(s, dict)]

    async def subaccounts(self, *, modified_since: datetime | None = None) -> list[Subaccount]:
        items = await self._get_pages("/v1/subaccount", self._since(modified_since))
        return [self._utc(Subaccount.from_dto(d)) for d in items]

    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]:
        items = await self._get_pages("/v1/supplier", self._since(modified_since))
        return [self._utc(Supplier.from_dto(d)) for d in items]

    # One entity, read when a webhook says it changed (ml_connector.webhooks). None: Visma answered
    # 404, so it does not exist; any other failure raises (a read that did not finish says nothing).

    async def _get_one(self, path: str, op: str) -> dict[str, Any] | None:
        try:
            response = await self._send("GET", path, op=op)
        except RejectedByDestinationError as exc:
            if exc.status == 404:
                return None
            raise
        data = wire.loads(response.content) if response.content.strip() else None
        if not isinstance(data, dict):
            raise FatalDestinationError(f"GET {op}: expected a JSON object")
        return data

    async def account(self, number: str) -> Account | None:
        data = await self._get_one(f"/v1/account/{quote(number, safe='')}", "/v1/account/{accountCd}")
        return None if data is None else self._utc(Account.from_dto(data))

    async def supplier(self, number: str) -> Supplier | None:
        data = await self._get_one(f"/v1/supplier/{quote(number, safe='')}", "/v1/supplier/{supplierCd}")
        return None if data is None else self._utc(Supplier.from_dto(data))

    async def segment_value(self, segment_id: int, value: str) -> SegmentValue | None:
        """One SUBACCOUNT segment value; the API wants the value id Base64-encoded in the path."""
        encoded = quote(base64.b64encode(value.encode("utf-8")).decode("ascii"), safe="=")
        data = await self._get_one(
            f"/v1/dimension/SUBACCOUNT/{segment_id}/{encoded}",
            "/v1/dimension/{dimensionId}/{segmentId}/{valueId}",
        )
        return None if data is None else self._utc(SegmentValue.from_dto(data, segment_id))

    async def branches(self, *, modified_since: datetime | None = None) -> list[Branch]:
        items = await self._get_list("/v1/branch", self._since(modified_since))
        return [self._utc(Branch.from_dto(d)) for d in items]

    async def ledgers(self, *, modified_since: datetime | None = None) -> list[Ledger]:
        items = await self._get_list("/v1/ledger", self._since(modified_since))
        return [self._utc(Ledger.from_dto(d)) for d in items]

    async def currencies(self) -> list[Currency]:
        return [Currency.from_dto(d) for d in await self._get_list("/v1/currency")]

    async def currency_rate(
        self, from_currency: str, day: date, *, to_currency: str | None = None, rate_type: str | None = None
    ) -> CurrencyRate | None:
        """The rate of ``from_currency`` (to ``to_currency``, default the company's) in force on
        ``day``, of ``rate_type`` (None: any type); None when Visma has none on or before that day."""
        params: dict[str, str | int] = {"fromCurrency": from_currency, "toDate": day.isoformat()}
        if to_currency is not None:
            params["toCurrency"] = to_currency
        if rate_type is not None:
            params["rateType"] = rate_type
        rates = [CurrencyRate.from_dto(d) for d in await self._get_list(CURRENCY_RATE_PATH, params)]
        wanted = [
            r
            for r in rates
            if r is not None
            and r.from_currency == from_currency
            and (to_currency is None or r.to_currency == to_currency)
            and (rate_type is None or r.rate_type == rate_type)
        ]
        return rate_on(wanted, day)

    async def financial_periods(self, *, from_period: str | None = None) -> list[FinancialPeriod]:
        params: dict[str, str | int] = {"greaterThanValue": from_period} if from_period else {}
        return [FinancialPeriod.from_dto(d) for d in await self._get_list("/v1/financialPeriod", params)]

    async def vat_codes(self) -> list[VatCode]:
        """Every VAT id (``GET /v1/vat``, a plain array without paging)."""
        return [self._utc(VatCode.from_dto(d)) for d in await self._get_list("/v1/vat")]

    async def credit_terms(self) -> list[CreditTerm]:
        """Every credit term. ``GET /v1/creditTerm`` answers a paging envelope
        ``{pageNumber, pageSize, totalCount, records}`` (visma-api.md §3.4, format B)."""
        size = self.settings.page_size
        records: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES):
            data = await self._get_json("/v1/creditTerm", {"pageNumber": page, "pageSize": size})
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise FatalDestinationError("GET /v1/creditTerm: expected a paging envelope with records")
            batch = [r for r in data["records"] if isinstance(r, dict)]
            records.extend(batch)
            total = data.get("totalCount")
            if not batch or (isinstance(total, int) and len(records) >= total):
                break
        return [self._utc(CreditTerm.from_dto(d)) for d in records]

    # ---------------------------------------------------------------- journal transactions

    async def create_journal(self, voucher: Voucher) -> CreatedJournal:
        """POST the voucher. Never resent once it may have reached Visma: that raises
        ``AmbiguousDestinationError``; settle it with ``find_by_reference``."""
        response = await self._send("POST", JOURNAL_PATH, body=wire.journal_dto(voucher), is_create=True)
        location = response.headers.get("location")
        if response.status_code not in (200, 201) or not location:
            raise AmbiguousDestinationError(
                f"POST {JOURNAL_PATH} answered {response.status_code} without a Location; "
                "the batch may exist but its number is unknown",
                status=response.status_code,
                context={"reference": voucher.reference},
            )
        batch = unquote(urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1])
        if not batch:
            raise AmbiguousDestinationError(f"unusable Location {location!r} after a create")
        self.counters["journals_created"] += 1
        return CreatedJournal(batch_number=batch, etag=response.headers.get("etag"), location=location)

    async def release_journal(self, batch_number: str, etag: str | None = None) -> str | None:
        """Release (post) a batch, guarded by ``If-Match`` when an ETag is given; return the new ETag."""
        headers = {"If-Match": _quote_etag(etag)} if etag else None
        path = f"{JOURNAL_PATH}/{quote(batch_number, safe='')}/action/release"
        response = await self._send(
            "POST", path, headers=headers, is_create=True, op=f"{JOURNAL_PATH}/{{number}}/action/release"
        )
        if response.status_code == 202:
            raise AmbiguousDestinationError(f"release of {batch_number} was queued, not done", status=202)
        return _released(response, f"release of {batch_number}")

    async def get_journal(self, batch_number: str) -> JournalTransaction:
        response = await self._send(
            "GET", f"{JOURNAL_PATH}/{quote(batch_number, safe='')}", op=f"{JOURNAL_PATH}/{{number}}"
        )
        data = wire.loads(response.content)
        if not isinstance(data, dict):
            raise FatalDestinationError(f"GET journal {batch_number}: expected an object")
        return self._utc(JournalTransaction.from_dto(data, etag=response.headers.get("etag")))

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[JournalTransaction]:
        """Batches of a period (YYYYPP) and/or modified since a time (at or after it), complete or an
        error. Pages may count lines, so a batch split over pages is merged back by ``batchNumber``."""
        if period is None and modified_since is None:
            raise ValueError("journals() needs a period or modified_since (Visma requires one)")
        params: dict[str, str | int] = self._since(modified_since, condition=False)
        if period is not None:
            params["periodId"] = period
        merged: dict[str, dict[str, Any]] = {}
        for item in await self._get_pages(JOURNAL_PATH, params, count_lines=True):
            key = str(item.get("batchNumber") or "")
            lines = [x for x in item.get("journalTransactionLines") or [] if isinstance(x, dict)]
            if key not in merged:
                merged[key] = {**item, "journalTransactionLines": lines}
                continue
            have = merged[key]["journalTransactionLines"]
            seen = {x.get("lineNumber") for x in have if x.get("lineNumber") is not None}
            have.extend(x for x in lines if x.get("lineNumber") is None or x.get("lineNumber") not in seen)
        return [self._utc(JournalTransaction.from_dto(d)) for d in merged.values()]

    async def find_by_reference(self, reference: str, *, period: str) -> list[JournalTransaction]:
        """Batches of ``period`` with a line whose ``referenceNumber`` is ``reference``."""
        return [j for j in await self.journals(period=period) if reference in j.references]

    # ---------------------------------------------------------------- supplier ledger

    async def create_supplier_invoice(self, voucher: SupplierInvoiceVoucher) -> CreatedSupplierInvoice:
        """POST a supplier invoice (201 + Location). Like ``create_journal``, never resent once it may
        have reached Visma; settle ``AmbiguousDestinationError`` with ``supplier_invoices``."""
        body = supplier_invoice_dto(voucher)
        response = await self._send("POST", SUPPLIER_INVOICE_PATH, body=body, is_create=True)
        context: dict[str, object] = {"supplier": voucher.supplier, "reference": voucher.supplier_reference}
        number, location = _created(response, SUPPLIER_INVOICE_PATH, context)
        self.counters["supplier_invoices_created"] += 1
        return CreatedSupplierInvoice(
            document_type=voucher.document_type,
            number=number,
            etag=response.headers.get("etag"),
            location=location,
        )

    @staticmethod
    def _document_path(document_type: str, number: str) -> str:
        # Always the long form: the short /{number} path serves documentType Invoice only.
        return f"{SUPPLIER_INVOICE_PATH}/{quote(document_type, safe='')}/{quote(number, safe='')}"

    async def get_supplier_invoice(self, document_type: str, number: str) -> SupplierInvoiceRecord:
        response = await self._send(
            "GET",
            self._document_path(document_type, number),
            op=f"{SUPPLIER_INVOICE_PATH}/{{documentType}}/{{number}}",
        )
        data = wire.loads(response.content) if response.content.strip() else None
        if not isinstance(data, dict):
            raise FatalDestinationError(f"GET supplier invoice {document_type}/{number}: expected an object")
        return self._utc(SupplierInvoiceRecord.from_dto(data, etag=response.headers.get("etag")))

    async def supplier_invoices(
        self,
        supplier: str,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        document_type: str | None = None,
    ) -> list[SupplierInvoiceRecord]:
        """Every document of ``supplier`` dated within [date_from, date_to], complete or an error
        (paged like the journal listing). Visma filters the lower bound (``docDate >=``); the window
        is also applied here, so an ignored filter cannot widen the answer."""
        params: dict[str, str | int] = {"supplier": supplier}
        if document_type is not None:
            params["documentType"] = document_type
        if date_from is not None:
            params["docDate"] = date_from.isoformat()
            params["docDateCondition"] = ">="
        pages = await self._get_pages(SUPPLIER_INVOICE_PATH, params)
        found = [self._utc(SupplierInvoiceRecord.from_dto(d)) for d in pages]
        return [
            r for r in found if r.supplier == supplier and dated_within(r.document_date, date_from, date_to)
        ]

    async def supplier_invoices_dated(
        self, *, date_from: date, date_to: date, most_reads: int
    ) -> list[SupplierInvoiceRecord] | None:
        """Every supplier's documents dated within [date_from, date_to], complete or an error, in at
        most ``most_reads`` reads; None when the listing would take more (the caller then reads
        supplier by supplier). The window is applied here too, as in ``supplier_invoices``."""
        params: dict[str, str | int] = {"docDate": date_from.isoformat(), "docDateCondition": ">="}
        pages = await self._get_pages_within(SUPPLIER_INVOICE_PATH, params, most_reads)
        if pages is None:
            return None
        found = [self._utc(SupplierInvoiceRecord.from_dto(d)) for d in pages]
        return [r for r in found if dated_within(r.document_date, date_from, date_to)]

    async def release_supplier_invoice(
        self, document_type: str, number: str, etag: str | None = None
    ) -> str | None:
        """Release a supplier invoice; return the document's new ETag. A 200 ``Failed`` is a refusal
        (classified by ``classify.refusal``); a 202 (queued) is polled, bounded, by reading the
        document until it is released; still not released after that is ``Ambiguous``."""
        headers = {"If-Match": _quote_etag(etag)} if etag else None
        path = f"{self._document_path(document_type, number)}/action/release"
        response = await self._send(
            "POST",
            path,
            headers=headers,
            is_create=True,
            op=f"{SUPPLIER_INVOICE_PATH}/{{documentType}}/{{number}}/action/release",
        )
        what = f"release of {document_type} {number}"
        if response.status_code == 202:
            return await self._await_release(document_type, number, what)
        return _released(response, what)

    async def _await_release(self, document_type: str, number: str, what: str) -> str | None:
        return await self._poll_released(lambda: self.get_supplier_invoice(document_type, number), what)

    async def _poll_released(self, read: Callable[[], Awaitable[_Releasable]], what: str) -> str | None:
        """After a 202 (queued) release: read the document, bounded, until it is released; return its
        ETag. The background job's state endpoint is not part of our contract; the document's own
        status is the authoritative answer (Balanced until the release has run)."""
        self.counters["releases_queued"] += 1
        for attempt in range(self.release_polls):
            if attempt:
                await asyncio.sleep(self.release_poll_interval)
            doc = await read()
            if doc.released:
                return doc.etag
            if doc.status not in ("Balanced", None):
                raise refusal(
                    f"{what} was queued and left the document {doc.status}",
                    status=202,
                    visma_message=f"status {doc.status}",
                )
        raise AmbiguousDestinationError(
            f"{what} was queued and had not run after {self.release_polls} polls", status=202
        )

    async def set_pay_selected(
        self, document_type: str, number: str, etag: str | None = None, *, selected: bool = True
    ) -> str | None:
        """Mark a supplier document approved for payment (``paySelected``; payments.source = "visma":
        Visma pays it). A PUT of one flag is idempotent, so it may be resent; returns the new ETag."""
        headers = {"If-Match": _quote_etag(etag)} if etag else None
        response = await self._send(
            "PUT",
            self._document_path(document_type, number),
            body={"paySelected": wire.value(selected)},
            headers=headers,
            op=f"{SUPPLIER_INVOICE_PATH}/{{documentType}}/{{number}}",
        )
        return response.headers.get("etag")

    # ---------------------------------------------------------------- supplier payments

    async def create_supplier_payment(self, voucher: SupplierPaymentVoucher) -> CreatedDocument:
        """POST a payment (201 + Location). Never resent once it may have reached Visma; settle
        ``AmbiguousDestinationError`` with ``find_supplier_payments`` (supplier, date, paymentRef)."""
        body = supplier_payment_dto(voucher)
        response = await self._send("POST", SUPPLIER_PAYMENT_PATH, body=body, is_create=True)
        context: dict[str, object] = {"supplier": voucher.supplier, "reference": voucher.reference}
        number, location = _created(response, SUPPLIER_PAYMENT_PATH, context)
        self.counters["supplier_payments_created"] += 1
        return CreatedDocument("Payment", number, response.headers.get("etag"), location)

    async def void_supplier_payment(self, number: str, day: date | None = None) -> CreatedDocument:
        """Create the ``VoidPayment`` of released payment ``number`` (it has the same number); release
        it with ``release_supplier_payment("VoidPayment", number)``. Never resent on doubt: whether it
        exists is one read, ``get_supplier_payment("VoidPayment", number)``."""
        response = await self._send(
            "POST", SUPPLIER_PAYMENT_PATH, body=void_payment_dto(number, day), is_create=True
        )
        _, location = _created(response, SUPPLIER_PAYMENT_PATH, {"voids": number})
        self.counters["supplier_payments_voided"] += 1
        return CreatedDocument("VoidPayment", number, response.headers.get("etag"), location)

    async def get_supplier_payment(self, payment_type: str, number: str) -> SupplierPaymentRecord:
        path = f"{SUPPLIER_PAYMENT_PATH}/{quote(payment_type, safe='')}/{quote(number, safe='')}"
        response = await self._send("GET", path, op=f"{SUPPLIER_PAYMENT_PATH}/{{paymentType}}/{{number}}")
        data = wire.loads(response.content) if response.content.strip() else None
        if not isinstance(data, dict):
            raise FatalDestinationError(f"GET supplier payment {payment_type}/{number}: expected an object")
        return self._utc(SupplierPaymentRecord.from_dto(data, etag=response.headers.get("etag")))

    async def supplier_payments(
        self,
        supplier: str,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        payment_type: str | None = "Payment",
    ) -> list[SupplierPaymentRecord]:
        """Every payment of ``supplier`` dated within [date_from, date_to], complete or an error
        (paged; the window is also applied here, so an ignored filter cannot widen the answer)."""
        params: dict[str, str | int] = {"supplier": supplier}
        if payment_type is not None:
            params["paymentType"] = payment_type
        if date_from is not None:
            params["docDate"] = date_from.isoformat()
            params["docDateCondition"] = ">="
        pages = await self._get_pages(SUPPLIER_PAYMENT_PATH, params)
        found = [self._utc(SupplierPaymentRecord.from_dto(d)) for d in pages]
        return [
            r
            for r in found
            if r.supplier == supplier
            and dated_within(r.application_date, date_from, date_to)
            and payment_type in (None, r.payment_type)
        ]

    async def find_supplier_payments(
        self, supplier: str, day: date, reference: str
    ) -> list[SupplierPaymentRecord]:
        """The payments of ``supplier`` on ``day`` whose ``paymentRef`` is ``reference``: the lookup
        before any resend. An unfinished listing raises (it concludes nothing)."""
        found = await self.supplier_payments(supplier, date_from=day, date_to=day)
        return [r for r in found if r.payment_ref == reference]

    async def release_supplier_payment(
        self, payment_type: str, number: str, etag: str | None = None
    ) -> str | None:
        """Release a payment (or its VoidPayment); results as for supplier invoices: 200 ``Failed`` is
        a classified refusal, 202 is polled by reading the payment, bounded."""
        headers = {"If-Match": _quote_etag(etag)} if etag else None
        response = await self._send(
            "POST",
            f"{SUPPLIER_PAYMENT_PATH}/{quote(number, safe='')}/action/release",
            body=release_dto(payment_type),
            headers=headers,
            is_create=True,
            op=f"{SUPPLIER_PAYMENT_PATH}/{{number}}/action/release",
        )
        what = f"release of {payment_type} {number}"
        if response.status_code == 202:
            return await self._poll_released(lambda: self.get_supplier_payment(payment_type, number), what)
        return _released(response, what)

    # ---------------------------------------------------------------- attachments

    async def attach_to_supplier_invoice(
        self, document_type: str, number: str, upload: Upload
    ) -> AttachmentInfo:
        """Attach a file; the same file name again becomes a new revision of that attachment."""
        path = (
            f"{SUPPLIER_INVOICE_PATH}/documentType/{quote(document_type, safe='')}/"
            f"{quote(number, safe='')}/attachment"
        )
        op = f"{SUPPLIER_INVOICE_PATH}/documentType/{{documentType}}/{{number}}/attachment"
        return await self._attach(path, op, upload)

    async def attach_to_journal(
        self, batch_number: str, upload: Upload, *, module: str = "GL"
    ) -> AttachmentInfo:
        path = f"{JOURNAL_PATH}/module/{quote(module, safe='')}/{quote(batch_number, safe='')}/attachment"
        return await self._attach(path, f"{JOURNAL_PATH}/module/{{module}}/{{number}}/attachment", upload)

    async def _attach(self, path: str, op: str, upload: Upload) -> AttachmentInfo:
        # Not resent on doubt: a second upload would be a second revision.
        response = await self._send("POST", path, upload=upload, is_create=True, op=op)
        self.counters["attachments_uploaded"] += 1
        data = wire.loads(response.content) if response.content.strip() else None
        return AttachmentInfo.from_dto(
            data if isinstance(data, dict) else {"name": upload.filename}, etag=response.headers.get("etag")
        )

    async def supplier_invoice_attachments(
        self, document_type: str, number: str
    ) -> tuple[AttachmentInfo, ...]:
        return (await self.get_supplier_invoice(document_type, number)).attachments

    async def journal_attachments(self, batch_number: str) -> tuple[AttachmentInfo, ...]:
        return attachments_of((await self.get_journal(batch_number)).raw)


__all__ = ["DestinationError", "VismaClient"]
