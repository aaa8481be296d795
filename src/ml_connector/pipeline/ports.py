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
                                 + SupplierInvoiceLookup): invoices of a posting.target = "supplier_invoice"
                                 connection (SupplierInvoiceTarget); None otherwise
    Connectors      opens the two above for one connection (``Runtime.visma()/stampli()``)
    LedgerPort      every ledger call of the pipeline, in domain types (``domain/stored.py``,
                    ``domain/identity.py``); the real Ledger satisfies it structurally. Composed of
                    MasterDataCachePort  the master-data cache and sync marks (refresh, snapshot)
                    DocumentsPort  document reads and compare-and-set moves (StoredDocument)
                    FilesPort      downloaded export files (StoredFile): intake, replay, set-aside
                    FailuresPort   failures without a document, closing failures (StoredFailure)
                    RunsPort       a cycle's run row
                    AuditPort      audit trail reads (AuditEntry), a lone audited event
                    IdentityPort   whose history the ledger holds (Identity)
                    .aio      AwaitedDocumentsPort: posting's and settling's calls, awaited (off the
                              event loop, group-committed)
                    .vendors  VendorDriftPort: recorded supplier bank changes (StoredBankChange)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ml_connector.domain.booked import Attached, Booked, Created
from ml_connector.domain.files import Downloaded, RemoteFile
from ml_connector.domain.identity import Identity
from ml_connector.domain.journal import Voucher
from ml_connector.domain.masterdata import Account, Currency, Period, Segment, SegmentValue, Supplier
from ml_connector.domain.stored import AuditEntry, StoredBankChange, StoredDocument, StoredFailure, StoredFile
from ml_connector.domain.supplier_invoice import SupplierInvoiceVoucher
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.ledger.moves import Move, NewDocument

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


class SupplierInvoiceLookup(Protocol):
    """The supplier's documents in a document-date window (complete or an error), which is how a
    document already in Visma (ours, or another channel's) is found before a first create."""

    async def existing(
        self, supplier: str, *, date_from: date | None = None, date_to: date | None = None
    ) -> list[Booked]: ...

    # ``existing`` for several suppliers (each with its window) from one listing of every supplier's
    # documents; None when that listing would take more than ``most_reads`` reads.
    async def existing_of_suppliers(
        self, windows: Mapping[str, tuple[date, date]], *, most_reads: int
    ) -> dict[str, list[Booked]] | None: ...


class SupplierLedgerTarget(PostingTarget[SupplierInvoiceVoucher], SupplierInvoiceLookup, Protocol):
    """The supplier ledger: supplier invoices, numbered ``{documentType}/{number}``, and the lookup
    of what it already holds (``SupplierInvoiceLookup``)."""


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


class MasterDataCachePort(Protocol):
    """The cache of Visma data and its sync marks (``refresh``, ``snapshot``, ``booked``)."""

    def sync_mark(self, connection: str, kind: str, /) -> datetime | None: ...
    def set_sync_mark(self, connection: str, kind: str, last_modified: datetime | None, /) -> None: ...
    def sync_kinds(self, connection: str, prefix: str, /) -> set[str]: ...
    def upsert_master(self, connection: str, kind: str, items: MasterEntries, /) -> None: ...
    def replace_master(self, connection: str, kind: str, items: MasterEntries, /) -> None: ...
    def master(self, connection: str, kind: str, /) -> dict[str, tuple[bool, dict[str, Any]]]: ...
    def master_of(
        self, connection: str, kind: str, keys: Iterable[str], /
    ) -> dict[str, tuple[bool, dict[str, Any]]]: ...


class DocumentsPort(Protocol):
    """Documents: read as StoredDocument, moved only by the events of ledger/states.py (compare-and-set;
    False when another worker moved the document first)."""

    def document(self, connection: str, key: str, /) -> StoredDocument | None: ...
    def document_by_id(self, doc_id: int, /) -> StoredDocument: ...
    def documents_with_status(self, connection: str, statuses: Sequence[str], /) -> list[StoredDocument]: ...
    def all_documents(self, connection: str | None = None, /) -> list[StoredDocument]: ...
    def reading_count(self, connection: str, file_id: int, /) -> int: ...
    def insert_document(
        self, values: Mapping[str, Any], *, status: str, actor: str, reason: str
    ) -> int | None: ...
    # Many in one commit; None for a key already there (intake).
    def insert_documents(self, items: Sequence[NewDocument], /, *, actor: str) -> list[int | None]: ...
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
    # One move for each of several documents, in one commit (records that guard no effect on Visma).
    def transition_each(self, moves: Sequence[tuple[int, Move]], /, *, actor: str) -> list[bool]: ...
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


class FilesPort(Protocol):
    """Downloaded export files (intake, replay, set-aside), read as StoredFile."""

    # Of ``listed``, those held under no row of the same (path, size, mtime) (None), and those whose
    # row's status is in ``recheck`` (with that status).
    def not_taken_in(
        self, connection: str, listed: Sequence[RemoteFile], /, *, recheck: Collection[str] = ()
    ) -> dict[RemoteFile, str | None]: ...
    def file_by_hash(self, connection: str, sha256: str, /) -> StoredFile | None: ...
    def files_with_status(self, connection: str, statuses: Sequence[str], /) -> list[StoredFile]: ...
    # (id, is_new): a known hash is not inserted again.
    def record_file(
        self,
        *,
        connection: str,
        kind: str,
        remote_path: str,
        size: int,
        mtime: datetime | None,
        sha256: str,
        archive_path: str | None,
        actor: str,
    ) -> tuple[int, bool]: ...
    def finish_file(
        self, file_id: int, /, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> None: ...
    # A file read to its end: its ``reading`` documents become ``pending`` in bulk, with the file's
    # outcome, in one transaction; returns how many were released.
    def release_file(
        self, file_id: int, /, *, status: str, count: int, issues: list[dict[str, Any]], actor: str
    ) -> int: ...
    # False when the file is no longer in ``from_statuses``; its ``reading`` documents become skipped.
    def set_file_aside(
        self, file_id: int, /, *, from_statuses: Sequence[str], actor: str, reason: str
    ) -> bool: ...


class FailuresPort(Protocol):
    """Failures without a document (a rejected file or record), and closing any, read as StoredFailure;
    a document's failure is opened by ``park``."""

    # ``fields``: category, code, reason and optionally file_id, doc_key, source, raw, visma_answer, missing.
    def record_failure(self, *, connection: str, actor: str, **fields: Any) -> int: ...
    def open_failures(self, connection: str | None = None, /) -> list[StoredFailure]: ...
    # Close the open failures of a document, or those of a file that have no document.
    def resolve_failures(
        self, doc_id: int | None = None, /, *, actor: str, reason: str, file_id: int | None = None
    ) -> None: ...


class RunsPort(Protocol):
    """One row per cycle (or webhook pass) of a connection."""

    def start_run(self, connection: str, /) -> int: ...
    def finish_run(
        self, run_id: int, /, *, status: str, stats: Mapping[str, Any], error: str | None = None
    ) -> None: ...


class AuditPort(Protocol):
    """The audit trail, read as AuditEntry; ``record_event``: an audit row for an event that changes
    nothing else (a security event), committed alone."""

    def record_event(
        self,
        *,
        connection: str | None,
        entity: str,
        key: str | None,
        action: str,
        actor: str,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None: ...
    def audit_trail(self, entity: str, key: str, /) -> list[AuditEntry]: ...
    # The document keys of a connection with an audit row of ``action``.
    def keys_with_action(self, connection: str, action: str, /) -> set[str]: ...


class IdentityPort(Protocol):
    """Whose history the ledger holds, per connection (``pipeline/identity.py``)."""

    def identities(self) -> dict[str, Identity]: ...
    # Record unless one is recorded already; returns the one that stands (a racing process may win).
    def record_identity(self, connection: str, identity: Identity, /, *, actor: str) -> Identity: ...


class VendorDriftPort(Protocol):
    """The supplier bank changes the vendor export recorded (``pipeline/vendor_drift.py``)."""

    # Of one vendor, those that happened after ``after``, oldest first.
    def bank_changes_since(
        self, connection: str, vendor_id: str, after: datetime, /
    ) -> list[StoredBankChange]: ...
    # A person resolved (replayed) a bank-change failure of this document after ``after``.
    def confirmed_after(self, document_id: int, after: datetime, /) -> bool: ...


class LedgerPort(
    MasterDataCachePort,
    DocumentsPort,
    FilesPort,
    FailuresPort,
    RunsPort,
    AuditPort,
    IdentityPort,
    Protocol,
):
    """Every ledger call of the pipeline, in domain types (the real ``Ledger`` satisfies it
    structurally; ``tests/ledger/test_ledger_port.py`` checks that it does). ``aio``: the posting
    path's document calls, awaited; ``vendors``: the recorded supplier bank changes."""

    @property
    def aio(self) -> AwaitedDocumentsPort: ...
    @property
    def vendors(self) -> VendorDriftPort: ...


__all__ = [
    "AuditPort",
    "AwaitedDocumentsPort",
    "BookedLookup",
    "Connectors",
    "DocumentsPort",
    "FailuresPort",
    "FilesPort",
    "IdentityPort",
    "LedgerPort",
    "MasterDataCachePort",
    "MasterDataReads",
    "PostingTarget",
    "RunsPort",
    "StampliSource",
    "SupplierInvoiceLookup",
    "SupplierLedgerTarget",
    "VendorDriftPort",
    "VismaPort",
]
