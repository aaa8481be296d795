"""Intake: list new export files, download them to our archive, read them, store the documents.

Nothing is lost: every readable document becomes a ledger row; every unreadable record or file
becomes an open failure that keeps the raw text; the file itself stays in our archive so a
replay never needs Stampli's copy.

A file's documents wait for the whole file (issue 18, the format's rule that a file-level failure
quarantines the whole file): the reader finds some file-level failures only late in its single
pass, after it has handed out documents of that file. So each document goes in as ``reading`` and
voids are held back; only when the stream ends normally are the voids applied and the file's
``reading`` documents released to ``pending`` in bulk, with the file's outcome. A file that breaks
off leaves them ``reading``: never posted until a replay reads the file to its end (or another file
holds them again), and ``skipped`` when the operator sets the file aside.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ml_connector.domain.documents import Invoice, Payment, stored_json
from ml_connector.domain.files import RemoteFile
from ml_connector.domain.issues import Issue, Level, error
from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.moves import Move, NewDocument
from ml_connector.ledger.states import DocStatus, step
from ml_connector.pipeline.archive import archive_download
from ml_connector.pipeline.crashpoints import crashpoint
from ml_connector.pipeline.images import ImageStats, fetch_images
from ml_connector.pipeline.journal import invoice_reference, payment_reference, void_reference
from ml_connector.pipeline.listing import Listing, list_folders
from ml_connector.pipeline.ports import StampliSource
from ml_connector.pipeline.rules import Category
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.who_pays import skip_reason
from ml_connector.private_files import private_dir
from ml_connector.stampli.codes import SKIP_CODES as READER_SKIP_CODES
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.read import RejectedRecord, iter_export

TOO_LARGE = "too_large"  # file status: listed, over the size limit, never downloaded
SKIP_CODES = READER_SKIP_CODES  # not approved, not paid: recorded as skipped, never posted
MAX_EVENTS = 200

log = logging.getLogger("ml_connector.intake")


@dataclass
class IntakeStats:
    files_new: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    documents_new: int = 0
    duplicates: int = 0
    superseded: int = 0
    conflicts: int = 0
    # documents of files that broke off this cycle, left ``reading`` (never posted) until replayed
    waiting: int = 0
    skipped: int = 0
    records_rejected: int = 0
    # Invoice images (pipeline/images.py): downloaded, missing (warned or parked), arrived for parked.
    images_fetched: int = 0
    images_missing: int = 0
    images_arrived: int = 0
    issues: list[dict[str, Any]] = field(default_factory=list)
    # What happened to each document that was not simply new: {"document", "outcome", "detail"}
    # with outcome already_read, superseded, skipped or conflict (``run`` prints them in words).
    # Bounded (the counters above stay exact): a re-exported 10,000-row file is not 10,000 lines.
    events: list[dict[str, str]] = field(default_factory=list)

    def note(self, document: str, outcome: str, detail: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"document": document, "outcome": outcome, "detail": detail})


async def intake(
    rt: Runtime, source: StampliSource, stats: IntakeStats, *, listed: Listing | None = None
) -> None:
    """Download and read every ready file the ledger does not know. ``listed``: the folders'
    listing when the cycle took it already (``pipeline.listing.EarlyListing``); else listed now."""
    if listed is None:
        listed = await list_folders(rt, source)
    # The set comparison against the ledger: what is already taken in costs nothing more.
    news = rt.ledger.not_taken_in(rt.name, [remote for _, remote in listed], recheck={TOO_LARGE})
    stats.files_skipped += len(listed) - len(news)
    if news:  # an idle poll skips this: no staging folder, no reader profile, nothing per file
        # One staging folder per process: two processes running the same cycle download the same
        # file, and must not write, resume or rename each other's ``.part`` file.
        staging = private_dir(rt.archive_dir / ".incoming" / str(os.getpid()))
        try:
            await _intake_files(rt, source, stats, [(k, r) for k, r in listed if r in news], news, staging)
        finally:
            with contextlib.suppress(OSError):
                staging.rmdir()  # left behind only when a download failed half-way
    # The images of the invoices just read (and of any still waiting), over the same session.
    images = ImageStats()
    try:
        await fetch_images(rt, source, images)
    finally:
        stats.images_fetched += images.fetched
        stats.images_missing += images.missing
        stats.images_arrived += images.arrived


async def _intake_files(
    rt: Runtime,
    source: StampliSource,
    stats: IntakeStats,
    listed: Listing,
    seen_as: dict[RemoteFile, str | None],
    staging: Path,
) -> None:
    limit = rt.profile().limits.max_file_bytes
    for kind, remote in listed:
        seen = seen_as[remote]
        if seen is not None and not (seen == TOO_LARGE and remote.size <= limit):
            stats.files_skipped += 1
            continue
        if remote.size > limit:
            _too_large(rt, kind, remote, limit, stats)
            continue
        if seen == TOO_LARGE:  # the limit was raised since: take it in, close the old failure
            old = rt.ledger.file_by_hash(rt.name, _not_downloaded_id(remote))
            if old is not None:
                rt.ledger.resolve_failures(None, file_id=old.id, actor=rt.actor, reason="size limit raised")
        downloaded = await source.download(remote, staging)
        archived = archive_download(rt.archive_dir, downloaded)
        file_id, new = rt.ledger.record_file(
            connection=rt.name,
            kind=kind,
            remote_path=remote.path,
            size=downloaded.size,
            mtime=remote.mtime,
            sha256=downloaded.sha256,
            archive_path=str(archived),
            actor=rt.actor,
        )
        crashpoint("after_download")  # the file is ours (archived, recorded), not yet read
        if not new:
            row = rt.ledger.file_by_hash(rt.name, downloaded.sha256)
            if row is not None and row.status != "downloaded":
                stats.files_skipped += 1  # same content already processed (maybe under another name)
                continue
        stats.files_new += 1
        process_file(rt, file_id, archived, remote.path, kind, downloaded.sha256, stats)


def _not_downloaded_id(remote: RemoteFile) -> str:
    """Stands in for the sha256 of a file never downloaded: derived from its listing."""
    return hashlib.sha256(f"not downloaded|{remote.path}|{remote.size}|{remote.mtime}".encode()).hexdigest()


def _too_large(rt: Runtime, kind: str, remote: RemoteFile, limit: int, stats: IntakeStats) -> None:
    """A file over the size limit is recorded and reported without being fetched: nothing that
    large ever reaches our disk. Raising the limit lets the next cycle take it in."""
    file_id, new = rt.ledger.record_file(
        connection=rt.name,
        kind=kind,
        remote_path=remote.path,
        size=remote.size,
        mtime=remote.mtime,
        sha256=_not_downloaded_id(remote),
        archive_path=None,
        actor=rt.actor,
    )
    if not new:
        return
    reason = (
        f"{remote.path} is {remote.size:,} bytes, over the reader profile's limit of {limit:,} bytes "
        f"(limits.max_file_bytes of profile {rt.config.profile!r}); it was not downloaded. If the file "
        "is genuine, raise the limit and the next cycle takes it in"
    )
    issue = {"level": "error", "code": "file_too_large", "message": reason}
    rt.ledger.finish_file(file_id, status=TOO_LARGE, count=0, issues=[issue], actor=rt.actor)
    rt.ledger.record_failure(
        connection=rt.name,
        actor=rt.actor,
        category=Category.MAPPING,
        code="file_too_large",
        reason=reason,
        file_id=file_id,
    )
    stats.files_rejected += 1
    stats.issues.append({"file": remote.path, **issue})


def resume_downloaded_files(rt: Runtime, stats: IntakeStats) -> None:
    """Files downloaded before a crash but never processed: process them from the archive."""
    for row in rt.ledger.files_with_status(rt.name, ["downloaded"]):
        path = Path(row.archive_path) if row.archive_path else None  # a downloaded file has its copy
        if path is not None and path.exists():
            process_file(rt, row.id, path, row.remote_path, row.kind, row.sha256, stats)


class DocumentStream(Protocol):
    """What ``process_file`` reads: the documents of one file and the issues found so far
    (``stampli.read.ExportStream``)."""

    issues: list[Issue]

    def __iter__(self) -> Iterator[Invoice | Payment | RejectedRecord]: ...
    def __next__(self) -> Invoice | Payment | RejectedRecord: ...


ExportReader = Callable[..., DocumentStream]


def process_file(
    rt: Runtime,
    file_id: int,
    path: Path,
    remote_path: str,
    kind: str,
    sha256: str,
    stats: IntakeStats,
    *,
    read: ExportReader = iter_export,
) -> str:
    """Read one archived file document by document (memory stays flat whatever its size) and store
    what it holds. Returns the file's new status: processed, partial or rejected.

    Its documents go in as ``reading`` and its voids are held back; once the stream ends normally,
    the voids are applied and its ``reading`` documents become ``pending`` with the file's outcome
    (``release_file``: one transaction, in bulk). Until then none of it can be posted.

    Whatever goes wrong while *reading* (a structural rejection, or any exception the reader
    raises) rejects this file alone, with a failure naming it and the cause: the cycle goes on
    with the other files, and the file is not read again until an operator replays it."""
    profile = rt.profile()
    documents = 0
    found: list[Issue] = []  # file-level warnings, warnings of accepted documents, rejected records' issues
    rejected = False
    inserts = Inserts(rt, stats)
    voids: list[Payment] = []  # applied once the file was read to its end: a broken file voids nothing
    try:
        stream = _open_guarded(
            lambda: read(path, remote_path=remote_path, profile=profile, kind=kind, sha256=sha256)
        )
        found = stream.issues
        try:
            for item in _read_guarded(stream):
                if isinstance(item, RejectedRecord):
                    rejected = True
                    found.extend(item.issues)
                    _rejected_record(rt, item, file_id, stats)
                else:
                    documents += 1
                    ingest(rt, item, file_id, stats, inserts, voids)
        finally:
            inserts.wait()  # what was read is in the ledger before the file's outcome is recorded
    except FileRejected as exc:
        _reject_file(rt, file_id, remote_path, [*exc.warnings, *exc.issues], documents, stats)
        return "rejected"
    except _ReaderFailed as failed:
        cause = failed.__cause__
        issue = error("reader_error", f"the reader failed: {_describe(cause)}", file=remote_path)
        _reject_file(rt, file_id, remote_path, [*found, issue], documents, stats, cause=cause)
        return "rejected"
    for void in voids:  # before the release: a crash in between reads the file again, voids found
        _ingest_void(rt, void, file_id, stats)
    issues = [i.as_dict() for i in found]
    stats.issues.extend({"file": remote_path, **i} for i in issues)
    status = "partial" if rejected else "processed"
    rt.ledger.release_file(file_id, status=status, count=documents, issues=issues, actor=rt.actor)
    return status


class _ReaderFailed(Exception):
    """Any exception out of the reader (not out of the ledger), carried as ``__cause__``."""


def _open_guarded(open_stream: Callable[[], DocumentStream]) -> DocumentStream:
    try:
        return open_stream()
    except FileRejected:
        raise
    except Exception as exc:
        raise _ReaderFailed from exc


def _read_guarded(stream: DocumentStream) -> Iterator[Invoice | Payment | RejectedRecord]:
    """The stream's items; an exception the reader raises comes out as ``_ReaderFailed``."""
    while True:
        try:
            item = next(stream)
        except StopIteration:
            return
        except FileRejected:
            raise
        except Exception as exc:
            raise _ReaderFailed from exc
        yield item


def _describe(exc: BaseException | None) -> str:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    text = f"{name}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _reject_file(
    rt: Runtime,
    file_id: int,
    remote_path: str,
    found: list[Issue],
    documents: int,
    stats: IntakeStats,
    *,
    cause: BaseException | None = None,
) -> None:
    """The file is rejected as a whole: an open failure naming it and why, and an ERROR log line
    (with the traceback when the reader raised). It is not read again until replayed; what was read
    of it stays ``reading`` (never posted) and its voids were never applied."""
    issues = [i.as_dict() for i in found]
    stats.issues.extend({"file": remote_path, **i} for i in issues)
    stats.files_rejected += 1
    waiting = rt.ledger.reading_count(rt.name, file_id) if documents else 0
    stats.waiting += waiting
    errors_first = sorted(found, key=lambda i: i.level != Level.ERROR)
    reason = f"file {remote_path} was rejected as a whole: " + "; ".join(str(i) for i in errors_first[:5])
    if waiting:
        reason += (
            f" ({waiting} documents read before this wait for the file: none is posted until a "
            "replay reads the file to its end; set aside, they are skipped)"
        )
    rt.ledger.record_failure(
        connection=rt.name,
        actor=rt.actor,
        category=Category.SOURCE_DATA,
        code="file_rejected:" + ",".join(sorted({i.code for i in found})),
        reason=reason,
        file_id=file_id,
    )
    log.error(
        "%s; the other files go on (see `failures`, then `replay` or `replay --set-aside`)",
        reason,
        exc_info=cause,
    )
    rt.ledger.finish_file(file_id, status="rejected", count=documents, issues=issues, actor=rt.actor)


def _rejected_record(rt: Runtime, rec: RejectedRecord, file_id: int, stats: IntakeStats) -> None:
    codes = sorted({i.code for i in rec.issues if i.level == "error"}) or sorted({i.code for i in rec.issues})
    if codes and set(codes) <= SKIP_CODES and rec.key:
        # Not approved: recorded as skipped, with its reason, and never posted.
        stats.skipped += 1
        stats.note(rec.key, "skipped", "; ".join(i.message for i in rec.issues))
        existing = rt.ledger.document(rt.name, rec.key)
        if existing is None:
            rt.ledger.insert_document(
                {
                    "connection": rt.name,
                    "doc_key": rec.key,
                    "kind": "invoice" if rec.kind == "invoice" else "payment",
                    "content_hash": "skipped",
                    "reference": "-",
                    "source": rec.parsed or {},
                    "raw": rec.raw,
                    "file_id": file_id,
                },
                status=DocStatus.SKIPPED,
                actor=rt.actor,
                reason="; ".join(i.message for i in rec.issues),
            )
        return
    stats.records_rejected += 1
    rt.ledger.record_failure(
        connection=rt.name,
        actor=rt.actor,
        category=Category.SOURCE_DATA,
        code=",".join(codes) or "rejected",
        reason=_record_reason(rec.issues),
        file_id=file_id,
        doc_key=rec.key,
        source=rec.parsed,
        raw=rec.raw,
    )


def _record_reason(issues: list[Issue]) -> str:
    return "; ".join(str(i) for i in issues[:5]) + (f" (+{len(issues) - 5} more)" if len(issues) > 5 else "")


def document_values(doc: Invoice | Payment, file_id: int | None) -> dict[str, Any]:
    source, digest = stored_json(doc)
    if isinstance(doc, Invoice):
        return {
            "doc_key": doc.key,
            "kind": "invoice",
            "reference": invoice_reference(doc),
            "vendor_id": doc.vendor_id,
            "vendor_name": doc.vendor_name,
            "number": doc.invoice_number,
            "document_date": doc.invoice_date,
            "currency": doc.currency,
            "amount": str(doc.total_amount),
            "source": source,
            "file_id": file_id,
            "content_hash": digest,
        }
    voided = doc.payment_status == "VOIDED"
    return {
        "doc_key": doc.key,
        "kind": "payment_void" if voided else "payment",
        "reference": void_reference(doc) if voided else payment_reference(doc),
        "vendor_id": doc.vendor_id,
        "vendor_name": doc.vendor_name,
        "number": doc.payment_number or doc.stampli_payment_id,
        "document_date": doc.voided_at.date() if voided and doc.voided_at else doc.payment_date,
        "currency": doc.payment_currency,
        "amount": str(doc.payment_amount),
        "source": source,
        "file_id": file_id,
        "content_hash": digest,
    }


_RACED = "read by another process at the same moment; not read again"


class Inserts:
    """New documents of one file, inserted in groups of up to ``GROUP`` documents or
    ``GROUP_LINES`` lines per transaction (``insert_documents``): one fsync per group instead of one
    per document; likewise the documents another file left that this one brings again
    (``read_again``, ``transition_each``). A group is written when full, before a key pending in it
    is looked up again, and before the file's outcome is recorded; the counts follow each insert's
    result."""

    GROUP = 256
    # Memory stays flat whatever the file (issue 19): a group holds at most this many invoice lines.
    GROUP_LINES = 2_000

    def __init__(self, rt: Runtime, stats: IntakeStats) -> None:
        self.rt, self.stats = rt, stats
        self._set_aside: set[int] | None = None  # ids of the files set aside, read when first needed
        self._items: list[NewDocument] = []
        self._moves: list[tuple[int, Move]] = []  # ``read_again`` of documents another file left
        self._counted: list[Callable[[], None]] = []
        self._keys: set[str] = set()
        self._lines = 0

    def add(self, values: dict[str, Any], *, status: str, reason: str, new: Callable[[], None]) -> None:
        self._items.append((values, status, reason))
        self._counted.append(new)
        self._keys.add(values["doc_key"])
        self._lines += len(values["source"].get("lines") or ())
        if len(self._items) >= self.GROUP or self._lines >= self.GROUP_LINES:
            self.wait()

    def move(self, doc_id: int, key: str, move: Move) -> None:
        """A change of a document already stored (``read_again``), written with the next group."""
        self._moves.append((doc_id, move))
        self._keys.add(key)
        if len(self._moves) >= self.GROUP:
            self.wait()

    def set_aside(self, file_id: int | None) -> bool:
        """Whether ``file_id`` is a file the operator set aside (few: read once per file read)."""
        if self._set_aside is None:
            self._set_aside = {r.id for r in self.rt.ledger.files_with_status(self.rt.name, ["set_aside"])}
        return file_id in self._set_aside

    def before_lookup(self, *keys: str) -> None:
        if any(k in self._keys for k in keys):
            self.wait()

    def wait(self) -> None:
        items, counted, moves = self._items, self._counted, self._moves
        self._items, self._counted, self._moves, self._keys, self._lines = [], [], [], set(), 0
        if moves:  # one transaction for the group, as for the inserts
            self.rt.ledger.transition_each(moves, actor=self.rt.actor)
        if not items:
            return
        for (values, _, _), doc_id, new in zip(
            items, self.rt.ledger.insert_documents(items, actor=self.rt.actor), counted, strict=True
        ):
            if doc_id is not None:
                new()
            else:
                self.stats.duplicates += 1
                self.stats.note(values["doc_key"], "already_read", _RACED)


def ingest(
    rt: Runtime,
    doc: Invoice | Payment,
    file_id: int | None,
    stats: IntakeStats,
    inserts: Inserts,
    voids: list[Payment],
) -> None:
    """Dedupe by key and content: new -> reading (pending when read from no file); same -> skip;
    changed -> supersede or conflict. New documents go through ``inserts`` (the caller waits for
    them); voids go to ``voids``, for the caller to apply once the file was read to its end."""
    values = document_values(doc, file_id)
    values["connection"] = rt.name
    key = values["doc_key"]
    skip = skip_reason(rt.config, values["kind"])
    if skip is not None:
        inserts.before_lookup(key)
        _ingest_skipped(rt, values, skip, stats, inserts)
        return
    if values["kind"] == "payment_void":
        if not isinstance(doc, Payment):
            raise TypeError("a payment_void document must be a Payment")
        voids.append(doc)  # applied when the file ends normally (``process_file``)
        return
    waits = DocStatus.PENDING if file_id is None else DocStatus.READING
    inserts.before_lookup(key)
    existing = rt.ledger.document(rt.name, key)
    if existing is None:

        def new() -> None:
            stats.documents_new += 1

        inserts.add(values, status=waits, reason="read", new=new)
        return
    if existing.content_hash == values["content_hash"]:
        stats.duplicates += 1
        if file_id is not None and existing.file_id != file_id and _left_behind(rt, existing, inserts):
            # read before from a file that broke off (or was set aside): this file now brings it
            again = Move(
                "read_again",
                reason=f"read again in {doc.provenance.remote_path}",
                details={"file_id": file_id, "earlier_file_id": existing.file_id},
                values={"file_id": file_id},
            )
            inserts.move(existing.id, key, again)
            stats.note(
                key,
                "read_again",
                f"its earlier file broke off; it now waits for {doc.provenance.remote_path}",
            )
            return
        stats.note(key, "already_read", f"already in the ledger ({existing.status}) with the same content")
        return
    if existing.status in DocStatus.NOT_POSTED:
        if rt.ledger.replace_source(
            existing.id,
            source=values["source"],
            raw=None,
            content_hash=values["content_hash"],
            file_id=file_id or 0,
            actor=rt.actor,
            to_status=waits,
        ):
            rt.ledger.resolve_failures(existing.id, actor=rt.actor, reason="superseded by a re-export")
            stats.superseded += 1
            stats.note(
                key,
                "superseded",
                f"the {existing.status} copy read earlier was replaced by the changed one in "
                f"{doc.provenance.remote_path}",
            )
        return
    stats.conflicts += 1
    stats.note(key, "conflict", f"already {existing.status}; the changed re-export is a failure to review")
    rt.ledger.record_failure(
        connection=rt.name,
        actor=rt.actor,
        category=Category.SOURCE_DATA,
        code="conflict",
        reason=(
            f"{key} was already {existing.status} in Visma (batch {existing.batch_number or '?'}) and "
            "Stampli exported it again with different content; ml-connector never overwrites a posted "
            "document: correct it in Visma by hand, then close this failure"
        ),
        doc_key=key,
        file_id=file_id,
        source=values["source"],
    )


def _left_behind(rt: Runtime, existing: StoredDocument, inserts: Inserts) -> bool:
    """A document its file left unreleased: ``reading`` (that file broke off, or is being read by
    another process), or ``skipped`` because that file was set aside (its last change was that,
    not, say, a void)."""
    if existing.status == DocStatus.READING:
        return True
    if existing.status != DocStatus.SKIPPED or not inserts.set_aside(existing.file_id):
        return False
    trail = [r for r in rt.ledger.audit_trail("document", existing.doc_key) if r.connection == rt.name]
    return bool(trail) and trail[-1].action == step("file_set_aside").action


def _ingest_skipped(
    rt: Runtime, values: dict[str, Any], reason: str, stats: IntakeStats, inserts: Inserts
) -> None:
    """Read and reported, never posted (``who_pays``): recorded as skipped with the reason, once."""
    key = values["doc_key"]
    existing = rt.ledger.document(rt.name, key)
    if existing is not None:
        stats.duplicates += 1
        stats.note(key, "already_read", f"already in the ledger ({existing.status})")
        return

    def new() -> None:
        stats.skipped += 1
        stats.note(key, "skipped", reason)

    inserts.add(values, status=DocStatus.SKIPPED, reason=reason, new=new)


def _ingest_void(rt: Runtime, doc: Payment, file_id: int, stats: IntakeStats) -> None:
    """A void, applied once its file was read to its end: of a posted payment, a document to post
    (released with the file's other documents); of one never posted, it is skipped with it."""
    values = document_values(doc, file_id)
    values["connection"] = rt.name
    key = values["doc_key"]
    if rt.ledger.document(rt.name, key) is not None:
        stats.duplicates += 1
        stats.note(key, "already_read", "the void is already in the ledger")
        return
    original = rt.ledger.document(rt.name, doc.paid_key)
    posted = original is not None and original.status not in DocStatus.NOT_POSTED
    if posted:
        if rt.ledger.insert_document(
            values, status=DocStatus.READING, actor=rt.actor, reason="payment voided"
        ):
            stats.documents_new += 1
        return
    reason = "the payment was voided in Stampli before it was posted to Visma; nothing to reverse"
    rt.ledger.insert_document(values, status=DocStatus.SKIPPED, actor=rt.actor, reason=reason)
    stats.skipped += 1
    stats.note(key, "skipped", reason)
    if original is not None:
        rt.ledger.transition(original.id, "voided", actor=rt.actor, reason=reason)
        rt.ledger.resolve_failures(original.id, actor=rt.actor, reason="payment voided in Stampli")
