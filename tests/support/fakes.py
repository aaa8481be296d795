"""In-memory fakes of the pipeline's ports (``ml_connector.pipeline.ports``).

With them a whole cycle (``run_cycle``) runs in milliseconds, with no SFTP server, no Visma
simulator and no network: the pipeline's rules (park, replay, duplicates, unknown outcomes,
adoption) are tested here; the adapters and the end-to-end flow keep their real-server tests.

    FakeStampli     files in memory per folder; ``put`` one, ``list_ready`` / ``download`` them
    FakeVisma       master data, created vouchers, and failures to inject; the demo company of
                    the Visma simulator's ``demo`` seed with ``FakeVisma.demo()``
    FakeSupplierLedger  the supplier-ledger target (set ``FakeVisma.supplier_ledger_fake``)
    FakeConnectors  what ``Runtime.connectors`` opens: these two, counting how often
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector.domain.booked import Attached, Booked, BookedLine, Created
from ml_connector.domain.files import Downloaded, RemoteFile
from ml_connector.domain.journal import Voucher
from ml_connector.domain.masterdata import Account, Currency, Period, Segment, SegmentValue, Supplier
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.errors import AmbiguousDestinationError, RejectedByDestinationError
from ml_connector.pipeline.runtime import Runtime
from ml_connector.sim.visma.seed import (
    DEMO_ACCOUNTS,
    DEMO_CLOSED_PERIODS,
    DEMO_DEPARTMENTS,
    DEMO_PROJECTS,
    DEMO_SUPPLIERS,
)

T0 = datetime(2025, 4, 1, 6, 0, tzinfo=UTC)
OLD = T0 - timedelta(hours=1)  # an mtime old enough for the partial-file guard


class FakeStampli:
    """Stampli's outbound folders in memory; every file is ready (complete) once put."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, datetime]] = {}  # remote path -> (content, mtime)
        self.downloads: list[str] = []

    def put(self, path: str, text: str | bytes, *, mtime: datetime = OLD) -> None:
        self.files[path] = (text.encode("utf-8") if isinstance(text, str) else text, mtime)

    async def __aenter__(self) -> FakeStampli:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_ready(self, folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]:
        patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
        return [
            RemoteFile(path, len(content), mtime)
            for path, (content, mtime) in sorted(self.files.items())
            if posixpath.dirname(path) == folder.rstrip("/")
            and any(fnmatch.fnmatchcase(posixpath.basename(path), p) for p in patterns)
        ]

    async def download(self, remote: RemoteFile, dest_dir: Path) -> Downloaded:
        content, _ = self.files[remote.path]
        dest_dir.mkdir(parents=True, exist_ok=True)
        local = dest_dir / remote.name
        local.write_bytes(content)
        self.downloads.append(remote.path)
        return Downloaded(remote, local, hashlib.sha256(content).hexdigest(), len(content))


@dataclass
class FakeVisma:
    """One Visma company in memory: master data reads, the booked lookup and a journal target
    (with attachments: ``attachments``, failures in ``attach_failures``).

    Failures to inject: ``create_failures`` (raised by the next creates, in order; an exception
    whose ``committed`` attribute is true is raised after the voucher was booked, i.e. the answer
    was lost), ``listing_failures`` (raised by the next ``journals`` calls)."""

    company_id: str = "1"
    accounts_by_number: dict[str, Account] = field(default_factory=dict)
    suppliers_by_number: dict[str, Supplier] = field(default_factory=dict)
    segments_by_id: dict[int, dict[str, SegmentValue]] = field(default_factory=dict)
    periods: dict[str, Period] = field(default_factory=dict)
    currency_list: list[Currency] = field(default_factory=list)
    booked_by_number: dict[str, Booked] = field(default_factory=dict)
    created: list[Voucher] = field(default_factory=list)  # every voucher a create booked, in order
    create_failures: list[Exception] = field(default_factory=list)
    listing_failures: list[Exception] = field(default_factory=list)
    # number -> file name -> every revision's bytes; attach_failures: raised by the next attaches
    attachments: dict[str, dict[str, list[bytes]]] = field(default_factory=dict)
    attach_failures: list[Exception] = field(default_factory=list)
    # (currency, rate type) -> [(effective date, rate)]; rate_failures: raised by the next rate reads
    rates: dict[tuple[str, str | None], list[tuple[date, Decimal]]] = field(default_factory=dict)
    rate_failures: list[Exception] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _clock: datetime = T0

    # ------------------------------------------------------------------ set-up

    @classmethod
    def demo(cls) -> FakeVisma:
        """The master data of the Visma simulator's ``demo`` seed (Fjordvarme AS)."""
        fake = cls()
        for number, description, type_, _class, options in DEMO_ACCOUNTS:
            fake.add_account(
                number,
                description=description,
                type=type_,
                active=options.get("active", True),
                control_account_module=options.get("control_account_module"),
                allow_manual_entry=options.get("allow_manual_entry", True),
                currency=options.get("currency"),
            )
        for value, description in DEMO_DEPARTMENTS:
            fake.add_segment_value(1, value, description)
        for value, description in DEMO_PROJECTS:
            fake.add_segment_value(2, value, description)
        for spec in DEMO_SUPPLIERS:
            fake.add_supplier(str(spec["number"]), name=spec.get("name"), currency_id=spec.get("currencyId"))
        for year in (2025, 2026):
            for month in range(1, 13):
                key = f"{year}{month:02d}"
                fake.periods[key] = Period(key, True, key in DEMO_CLOSED_PERIODS, date(year, month, 1))
        fake.currency_list = [Currency("NOK", True), Currency("SEK"), Currency("EUR")]
        return fake

    def tick(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def add_account(self, number: str, **facts: Any) -> None:
        self.accounts_by_number[number] = Account(number, last_modified=self.tick(), **facts)

    def add_supplier(self, number: str, **facts: Any) -> None:
        self.suppliers_by_number[number] = Supplier(number, last_modified=self.tick(), **facts)

    def add_segment_value(self, segment_id: int, value: str, description: str = "") -> None:
        self.segments_by_id.setdefault(segment_id, {})[value] = SegmentValue(segment_id, value, description)

    def open_period(self, period: str) -> None:
        self.periods[period] = replace(self.periods[period], closed_in_gl=False)

    def book(self, voucher: Voucher, *, status: str = "Balanced") -> Booked:
        """A voucher booked in Visma (by us or by anyone else, e.g. an earlier ledger)."""
        number = f"{next(self._numbers):06d}"
        booked = Booked(
            number=number,
            status=status,
            financial_period=voucher.financial_period,
            currency=voucher.currency,
            lines=tuple(
                BookedLine(ln.account, ln.debit, ln.credit, ln.reference or voucher.reference)
                for ln in voucher.lines
            ),
            last_modified=self.tick(),
            timestamp=f"v{number}-1",
            etag=f'"v{number}-1"',
        )
        self.booked_by_number[number] = booked
        return booked

    def batches(self, reference: str) -> list[Booked]:
        return [b for b in self.booked_by_number.values() if reference in b.references]

    # ------------------------------------------------------------------ the port

    @property
    def masterdata(self) -> FakeVisma:
        return self

    @property
    def booked(self) -> FakeVisma:
        return self

    @property
    def posting(self) -> FakeVisma:
        return self

    @property
    def supplier_ledger(self) -> Any:
        """None: the fake posts journal transactions (tests set ``supplier_ledger_fake``)."""
        return getattr(self, "supplier_ledger_fake", None)

    @property
    def supplier_payments(self) -> Any:
        """None: the fake posts payments as journal transactions (tests set ``supplier_payments_fake``)."""
        return getattr(self, "supplier_payments_fake", None)

    async def __aenter__(self) -> FakeVisma:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]:
        self.calls.append("accounts")
        return [a for a in self.accounts_by_number.values() if _since(a.last_modified, modified_since)]

    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]:
        self.calls.append("suppliers")
        return [s for s in self.suppliers_by_number.values() if _since(s.last_modified, modified_since)]

    async def subaccount_dimension(self) -> list[Segment]:
        self.calls.append("subaccount_dimension")
        return [Segment(sid, tuple(values.values())) for sid, values in sorted(self.segments_by_id.items())]

    async def financial_periods(self) -> list[Period]:
        self.calls.append("financial_periods")
        return list(self.periods.values())

    async def currencies(self) -> list[Currency]:
        self.calls.append("currencies")
        return list(self.currency_list)

    async def currency_rate(self, currency: str, day: date, *, rate_type: str | None) -> Decimal | None:
        """The latest of ``rates[(currency, rate_type)]`` effective on or before ``day``."""
        self.calls.append(f"currency_rate {currency} {day.isoformat()} {rate_type}")
        if self.rate_failures:
            raise self.rate_failures.pop(0)
        known = sorted((d, r) for d, r in self.rates.get((currency, rate_type), []) if d <= day)
        return known[-1][1] if known else None

    async def account(self, number: str) -> Account | None:
        return self.accounts_by_number.get(number)

    async def supplier(self, number: str) -> Supplier | None:
        return self.suppliers_by_number.get(number)

    async def segment_value(self, segment_id: int, value: str) -> SegmentValue | None:
        return self.segments_by_id.get(segment_id, {}).get(value)

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[Booked]:
        self.calls.append(f"journals period={period} since={modified_since is not None}")
        if self.listing_failures:
            raise self.listing_failures.pop(0)
        return [
            b
            for b in self.booked_by_number.values()
            if (period is None or b.financial_period == period) and _since(b.last_modified, modified_since)
        ]

    async def create(self, voucher: Voucher) -> Created:
        self.calls.append(f"create {voucher.reference}")
        failure = self.create_failures.pop(0) if self.create_failures else None
        if failure is not None and not getattr(failure, "committed", False):
            raise failure
        booked = self.book(voucher)
        self.created.append(voucher)
        if failure is not None:
            raise failure  # booked, but the answer was lost
        return Created(booked.number, booked.etag, f"/v2/journaltransaction/{booked.number}")

    async def release(self, number: str, etag: str | None) -> str | None:
        self.calls.append(f"release {number}")
        booked = self.booked_by_number[number]
        released = replace(booked, status="Released", last_modified=self.tick(), etag=f'"v{number}-2"')
        self.booked_by_number[number] = released
        return released.etag

    async def get(self, number: str) -> Booked:
        return self.booked_by_number[number]

    async def attach(self, number: str, name: str, content: bytes) -> Attached:
        self.calls.append(f"attach {number} {name}")
        if self.attach_failures:
            raise self.attach_failures.pop(0)
        revisions = self.attachments.setdefault(number, {}).setdefault(name, [])
        revisions.append(content)
        booked = self.booked_by_number[number]
        version = f'"v{number}-a{sum(len(r) for r in self.attachments[number].values())}"'
        self.booked_by_number[number] = replace(booked, etag=version)  # an upload changes the version
        return Attached(name, f"att-{number}-{name}", len(revisions), version)


@dataclass
class FakeSupplierLedger:
    """A supplier ledger in memory (``SupplierLedgerTarget``): documents by ``{documentType}/{number}``.

    ``add`` books a document as anyone would (another channel, or an earlier ledger of ours);
    failures to inject: ``create_failures`` (as ``FakeVisma``'s, ``committed`` = booked, answer lost),
    ``listing_failures`` (the next ``existing`` reads), ``release_refusals`` (the next releases)."""

    docs: dict[str, Booked] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)
    created: list[SupplierInvoiceVoucher] = field(default_factory=list)
    create_failures: list[Exception] = field(default_factory=list)
    listing_failures: list[Exception] = field(default_factory=list)
    release_refusals: list[Exception] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    listing_page_size: int = 1000  # documents per read of ``existing_of_suppliers``
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(
        self,
        voucher: SupplierInvoiceVoucher,
        *,
        description: str | None = None,
        status: str = "Balanced",
    ) -> Booked:
        key = f"{voucher.document_type}/{next(self._numbers):06d}"
        self.docs[key] = Booked(
            number=key,
            status=status,
            financial_period=voucher.financial_period,
            currency=voucher.currency,
            lines=tuple(
                BookedLine(ln.account, ln.amount, Decimal(0), voucher.supplier_reference)
                for ln in voucher.lines
            ),
            etag=f'"{key}-1"',
            supplier=voucher.supplier,
            supplier_reference=voucher.supplier_reference,
            description=description,
            amount=voucher.total,
        )
        self.dates[key] = voucher.document_date
        return self.docs[key]

    async def create(self, voucher: SupplierInvoiceVoucher) -> Created:
        self.calls.append(f"create {voucher.supplier}/{voucher.supplier_reference}")
        failure = self.create_failures.pop(0) if self.create_failures else None
        if failure is not None and not getattr(failure, "committed", False):
            raise failure
        booked = self.add(voucher, description=voucher.description)
        self.created.append(voucher)
        if failure is not None:
            raise failure
        return Created(booked.number, booked.etag, f"/v1/supplierInvoice/{booked.number}")

    async def release(self, number: str, etag: str | None) -> str | None:
        self.calls.append(f"release {number}")
        if self.release_refusals:
            raise self.release_refusals.pop(0)
        doc = self.docs[number]
        if doc.status == "Open":
            raise RejectedByDestinationError("already released", status=400, visma_message="already released")
        self.docs[number] = replace(doc, status="Open", etag=f'"{number}-2"')
        return self.docs[number].etag

    async def get(self, number: str) -> Booked:
        return self.docs[number]

    async def existing(
        self, supplier: str, *, date_from: date | None = None, date_to: date | None = None
    ) -> list[Booked]:
        self.calls.append(f"existing {supplier}")
        if self.listing_failures:
            raise self.listing_failures.pop(0)
        return [
            b
            for key, b in self.docs.items()
            if b.supplier == supplier
            and (date_from is None or self.dates[key] >= date_from)
            and (date_to is None or self.dates[key] <= date_to)
        ]

    async def existing_of_suppliers(
        self, windows: Mapping[str, tuple[date, date]], *, most_reads: int
    ) -> dict[str, list[Booked]] | None:
        """One listing of every supplier's documents across the windows, read ``listing_page_size``
        documents a page (one read at least): None, after its first read, when it needs more than
        ``most_reads``."""
        self.calls.append("existing of " + ",".join(windows))
        if self.listing_failures:
            raise self.listing_failures.pop(0)
        low, high = min(a for a, _ in windows.values()), max(b for _, b in windows.values())
        listed = [key for key in self.docs if low <= self.dates[key] <= high]
        if len(listed) // self.listing_page_size + 1 > most_reads:  # full pages, then a shorter one
            return None
        out: dict[str, list[Booked]] = {supplier: [] for supplier in windows}
        for key in listed:
            b = self.docs[key]
            window = windows.get(b.supplier or "")
            if window is not None and window[0] <= self.dates[key] <= window[1]:
                out[b.supplier or ""].append(b)
        return out


def _since(stamp: datetime | None, since: datetime | None) -> bool:
    return since is None or (stamp is not None and stamp >= since)


@dataclass
class FakeSupplierPayments:
    """Supplier payments in memory (``SupplierPaymentsTarget``): ``Payment/{n}`` and the
    ``VoidPayment/{n}`` of one; our reference is kept as the Booked's description (the paymentRef).
    Failures to inject: ``create_failures`` (``committed`` = booked, answer lost), ``listing_failures``."""

    docs: dict[str, Booked] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)
    created: list[SupplierPaymentVoucher | SupplierPaymentVoid] = field(default_factory=list)
    create_failures: list[Exception] = field(default_factory=list)
    listing_failures: list[Exception] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def create(self, voucher: SupplierPaymentVoucher | SupplierPaymentVoid) -> Created:
        failure = self.create_failures.pop(0) if self.create_failures else None
        if failure is not None and not getattr(failure, "committed", False):
            raise failure
        if isinstance(voucher, SupplierPaymentVoid):
            key, day, amount, ref = voucher.number, voucher.void_date, -voucher.amount, voucher.reference
            lines: tuple[BookedLine, ...] = ()
        else:
            key, day, amount, ref = (
                f"Payment/{next(self._numbers):06d}",
                voucher.payment_date,
                voucher.amount,
                voucher.reference,
            )
            lines = tuple(
                BookedLine(f"{a.document_type}/{a.document_number}", a.amount, Decimal(0), ref)
                for a in voucher.applications
            )
        self.docs[key] = Booked(
            number=key,
            status="Balanced",
            currency=voucher.currency,
            lines=lines,
            etag=f'"{key}-1"',
            supplier=voucher.supplier,
            description=ref,
            amount=amount,
        )
        self.dates[key] = day
        self.created.append(voucher)
        if failure is not None:
            raise failure
        return Created(key, self.docs[key].etag, f"/v1/supplierPayment/{key}")

    async def release(self, number: str, etag: str | None) -> str | None:
        self.docs[number] = replace(self.docs[number], status="Closed", etag=f'"{number}-2"')
        if number.startswith("VoidPayment/"):
            original = "Payment/" + number.partition("/")[2]
            self.docs[original] = replace(self.docs[original], status="Voided")
        return self.docs[number].etag

    async def get(self, number: str) -> Booked:
        return self.docs[number]

    def _listed(self, supplier: str, day: date, kind: str) -> list[Booked]:
        if self.listing_failures:
            raise self.listing_failures.pop(0)
        return [
            b
            for key, b in self.docs.items()
            if key.startswith(kind) and b.supplier == supplier and self.dates[key] == day
        ]

    async def existing(self, supplier: str, day: date, reference: str) -> list[Booked]:
        return [b for b in self._listed(supplier, day, "Payment/") if b.description == reference]

    async def voids(self, supplier: str, day: date, payment: str) -> list[Booked]:
        number = payment.partition("/")[2]
        return [b for b in self._listed(supplier, day, "VoidPayment/") if b.number.endswith(f"/{number}")]


def lost_answer(message: str = "read timeout (fake)") -> AmbiguousDestinationError:
    """An unknown outcome whose create did reach Visma: booked, the answer lost."""
    exc = AmbiguousDestinationError(message)
    exc.committed = True  # type: ignore[attr-defined]
    return exc


@dataclass
class FakeConnectors:
    """``Runtime.connectors`` for the fakes; ``opened`` counts the ports each cycle opened."""

    visma_port: FakeVisma = field(default_factory=FakeVisma.demo)
    stampli_port: FakeStampli = field(default_factory=FakeStampli)
    opened: list[str] = field(default_factory=list)

    def visma(self, rt: Runtime, *, quick: bool = False) -> Any:
        self.opened.append("visma")
        return _opened(self.visma_port)

    def stampli(self, rt: Runtime, *, quick: bool = False) -> Any:
        self.opened.append("stampli")
        return _opened(self.stampli_port)


@asynccontextmanager
async def _opened(port: Any) -> Any:
    yield port
