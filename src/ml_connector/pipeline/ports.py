"""The ports: all the pipeline knows of the Stampli side, the Visma side and the ledger.

The service layer builds the adapters (``ml_connector.wiring``) and hands them to the pipeline
through ``Runtime.connectors``; tests hand in the in-memory fakes of ``tests/support/fakes.py``.
Every port takes and returns domain types (``ml_connector.domain``), never wire records, and every
time it hands out is aware UTC (converted once, by the adapter).

    StampliSource   list the ready export files of a folder, download one        (adapters/sftp)
    VismaPort       .masterdata  MasterDataReads: accounts, suppliers, SUBACCOUNT, periods, ...
                    .booked      BookedLookup: what is booked, by period or since a time
                    .posting     PostingTarget[Voucher]: create / release / read back one journal
                                 transaction (JournalTarget: adapters/visma/ports.py)
                    .supplier_ledger  SupplierLedgerTarget (PostingTarget[SupplierInvoiceVoucher]
                                 + existing): invoices of a posting.target = "supplier_invoice"
                                 connection (SupplierInvoiceTarget); None otherwise
    Connectors      opens the two above for one connection (``Runtime.visma()/stampli()``)
    LedgerPort      the master-data cache calls of ``refresh``/``snapshot`` and the document
                    reads and moves of intake, posting, settling and replay, in domain types
                    (``StoredDocument``); the real Ledger satisfies it structurally
                    .aio  AwaitedDocumentsPort: posting's and settling's calls, awaited (off the
                          event loop, group-committed)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ml_connector.domain.booked import Attached, Booked, Created
from ml_connector.domain.files import Downloaded, RemoteFile
from ml_connector.domain.journal import Voucher
from ml_connector.domain.masterdata import Account, Currency, Period, Segment, SegmentValue, Supplier
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.ledger.moves import Move

if TYPE_CHECKING:
    from ml_connector.pipeline.runtime import Runtime

V_contra = TypeVar("V_contra", contravariant=True)  # the voucher type a posting target takes

# The master-data cache's shape: key -> (active, facts).
MasterEntries = Mapping[str, tuple[bool, dict[str, Any]]]


class StampliSource(Protocol):
    """Stampli's outbound folders: files that are completely written, and their bytes."""

    async def list_ready(self, folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]: ...
    async def download(self, remote: RemoteFile, dest_dir: Path) -> Downloaded: ...


class MasterDataReads(Protocol):
    """Visma's master data; ``modified_since`` is aware (the adapter sends it in Visma's zone)."""

    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]: ...
    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]: ...
    async def subaccount_dimension(self) -> list[Segment]: ...
    async def financial_periods(self) -> list[Period]: ...
    async def currencies(self) -> list[Currency]: ...
    # One entity, read when a webhook says it changed; None: the destination has no such entity.
    async def account(self, number: str) -> Account | None: ...
    async def supplier(self, number: str) -> Supplier | None: ...
    async def segment_value(self, segment_id: int, value: str) -> SegmentValue | None: ...
    # Company-currency units per unit of ``currency`` in force on ``day`` (of ``rate_type``, None: any
    # type); None when the destination has no rate on or before that day. An error concludes nothing.
    async def currency_rate(self, currency: str, day: date, *, rate_type: str | None) -> Decimal | None: ...


class BookedLookup(Protocol):
    """What is booked: complete listings or an error (a partial listing concludes nothing)."""

    async def journals(
        self, *, period: str | None = None, modified_since: datetime | None = None
    ) -> list[Booked]: ...


class DocumentTarget(Protocol[V_contra]):
    """Where a voucher of one type is posted: one create, never resent while its outcome is unknown;
    then an optional release. Raises the ``DestinationError`` family (``ml_connector.errors``)."""

    async def create(self, voucher: V_contra) -> Created: ...
    async def release(self, number: str, etag: str | None) -> str | None: ...
    async def get(self, number: str) -> Booked: ...


class PostingTarget(DocumentTarget[V_contra], Protocol[V_contra]):
    """A target whose documents also carry the invoice image."""

    # Upload a file (the invoice image) to the created document; the same name again is a new
    # revision of the same attachment in Visma, so a resend after a crash is harmless.
    async def attach(self, number: str, name: str, content: bytes) -> Attached: ...


class SupplierLedgerTarget(PostingTarget[SupplierInvoiceVoucher], Protocol):
    """The supplier ledger: supplier invoices, numbered ``{documentType}/{number}``, and the
    supplier's documents in a document-date window (complete or an error), which is how a document
    already in Visma (ours, or another channel's) is found before a first create."""

    async def existing(
        self, supplier: str, *, date_from: date | None = None, date_to: date | None = None
    ) -> list[Booked]: ...


class SupplierPaymentsTarget(DocumentTarget[SupplierPaymentVoucher | SupplierPaymentVoid], Protocol):
    """Supplier payments, numbered ``{type}/{number}`` (``Payment/000007``; its void is
    ``VoidPayment/000007``). The lookups before a first create and before any resend, complete or an
    error: ``existing``, the supplier's payments on ``day`` whose paymentRef is ``reference``;
    ``voids``, the supplier's VoidPayments on ``day`` of ``payment``."""

    async def existing(self, supplier: str, day: date, reference: str) -> list[Booked]: ...
    async def voids(self, supplier: str, day: date, payment: str) -> list[Booked]: ...


class VismaPort(Protocol):
    """The Visma side, split by what each step needs."""

    @property
    def masterdata(self) -> MasterDataReads: ...
    @property
    def booked(self) -> BookedLookup: ...
    @property
    def posting(self) -> PostingTarget[Voucher]: ...
    @property
    def supplier_ledger(self) -> SupplierLedgerTarget | None:
        """None unless the connection posts to the supplier ledger (``posting.target``)."""
        ...

    @property
    def supplier_payments(self) -> SupplierPaymentsTarget | None:
        """None unless the connection posts to the supplier ledger (its payments go there too)."""
        ...


class Connectors(Protocol):
    """Opens the ports of one connection; ``quick``: a probe (``check``) that gives up within seconds."""

    def visma(self, rt: Runtime, *, quick: bool = False) -> AbstractAsyncContextManager[VismaPort]: ...
    def stampli(self, rt: Runtime, *, quick: bool = False) -> AbstractAsyncContextManager[StampliSource]: ...


class AwaitedDocumentsPort(Protocol):
    """The posting path's document calls, awaited (``ledger.aio``): the same names and compare-and-set
    semantics as the ``LedgerPort`` methods, answered only once committed, the database work off the
    event loop (the real one: ``ledger/awaited.py``, a writer thread that commits many documents at
    once). ``transitions``: several events in one commit, all or nothing."""

    async def document_by_id(self, doc_id: int, /) -> StoredDocument: ...
    async def documents_with_status(
        self, connection: str, statuses: Sequence[str], /
    ) -> list[StoredDocument]: ...
    async def transition(
        self,
        doc_id: int,
        event: str,
        to_status: str | None = None,
        *,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> bool: ...
    async def transitions(self, doc_id: int, moves: Sequence[Move], *, actor: str) -> bool: ...
    async def claim(self, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta) -> bool: ...
    # park's arguments: LedgerPort.park's below
    async def park(self, doc_id: int, event: str, **kwargs: Any) -> bool: ...


class LedgerPort(Protocol):
    """The ledger calls of the master-data refresh and of the document steps (the real ``Ledger``
    satisfies it structurally; ``tests/ledger/test_ledger_port.py`` checks that it does)."""

    @property
    def aio(self) -> AwaitedDocumentsPort: ...

    def sync_mark(self, connection: str, kind: str, /) -> datetime | None: ...
    def set_sync_mark(self, connection: str, kind: str, last_modified: datetime | None, /) -> None: ...
    def upsert_master(self, connection: str, kind: str, items: MasterEntries, /) -> None: ...
    def replace_master(self, connection: str, kind: str, items: MasterEntries, /) -> None: ...
    def master(self, connection: str, kind: str, /) -> dict[str, tuple[bool, dict[str, Any]]]: ...

    # Documents: read as StoredDocument, moved only by the events of ledger/states.py (compare-and-set;
    # False when another worker moved the document first).
    def document(self, connection: str, key: str, /) -> StoredDocument | None: ...
    def document_by_id(self, doc_id: int, /) -> StoredDocument: ...
    def documents_with_status(self, connection: str, statuses: Sequence[str], /) -> list[StoredDocument]: ...
    def all_documents(self, connection: str | None = None, /) -> list[StoredDocument]: ...
    def reading_count(self, connection: str, file_id: int, /) -> int: ...
    def insert_document(
        self, values: Mapping[str, Any], *, status: str, actor: str, reason: str
    ) -> int | None: ...
    def transition(
        self,
        doc_id: int,
        event: str,
        to_status: str | None = None,
        *,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> bool: ...
    def claim(self, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta) -> bool: ...
    def replace_source(
        self,
        doc_id: int,
        *,
        source: dict[str, Any],
        raw: str | None,
        content_hash: str,
        file_id: int,
        actor: str,
        to_status: str = "pending",
    ) -> bool: ...
    # A file read to its end: its ``reading`` documents become ``pending`` in bulk, with the file's
    # outcome, in one transaction; returns how many were released.
    def release_file(
        self, file_id: int, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> int: ...
    def park(
        self,
        doc_id: int,
        event: str,
        *,
        category: str,
        code: str,
        reason: str,
        actor: str,
        visma_answer: str | None = None,
        missing: list[dict[str, str]] | None = None,
        **values: Any,
    ) -> bool: ...


__all__ = [
    "AwaitedDocumentsPort",
    "BookedLookup",
    "Connectors",
    "LedgerPort",
    "MasterDataReads",
    "PostingTarget",
    "StampliSource",
    "SupplierLedgerTarget",
    "VismaPort",
]
