"""The invoice image, fetched with the export: ``images/<name>`` beside the export file.

Each pending invoice without an image is looked up once its export is read: the file its record
names (``documentFile``) or ``<stampliInvoiceId>.pdf`` (``domain/images.py``), in the ``images/``
folder next to the export it came from (one listing per folder per cycle, whatever the number of
invoices). Found: downloaded over the same SFTP session, archived beside the exports (named by
content, 0600) and its name, sha256, size and archived path recorded on the document
(``image_fetched``). Not there: a warning recorded on the document (``image_missing``), which posts
without an image; with ``posting.require_image`` the document is parked instead
(``image_required``) and looked for again every cycle until the image appears (``image_arrived``:
it goes back to pending and posts by itself).

A listing that does not finish concludes nothing: the error goes up (the cycle reports the SFTP
side as failed) and no document is marked; ``attach.image_ready`` keeps an invoice that needs its
image from posting meanwhile. Attaching in Visma is ``pipeline/attach.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_connector.domain.files import RemoteFile
from ml_connector.domain.images import IMAGES_FOLDER, expected_image_name, images_folder
from ml_connector.domain.problems import Category
from ml_connector.domain.stored import StoredDocument
from ml_connector.errors import NoSuchRemotePathError
from ml_connector.ledger.moves import Move
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.archive import archive_download
from ml_connector.pipeline.ports import StampliSource
from ml_connector.pipeline.runtime import Runtime
from ml_connector.private_files import private_dir

IMAGE_MISSING = "image_missing"  # the failure code of a document parked for its image

log = logging.getLogger("ml_connector.images")


@dataclass
class ImageStats:
    fetched: int = 0  # downloaded and recorded (a parked document's included)
    missing: int = 0  # not beside the export: warned (posts without) or parked (require_image)
    arrived: int = 0  # a parked document's image appeared: it posts again


@dataclass(frozen=True)
class _Wanted:
    doc: StoredDocument
    name: str | None  # None: the record names no image and has no stampliInvoiceId
    export: str  # the export file it was read from
    folder: str  # images/ beside it


def _wanted(doc: StoredDocument) -> _Wanted:
    source = doc.source
    provenance = source.get("provenance") or {}
    export = str(provenance.get("remotePath") or "")
    name = expected_image_name(source.get("documentFile"), source.get("stampliInvoiceId"))
    return _Wanted(doc, name, export, images_folder(export))


def waiting_for_images(rt: Runtime) -> list[StoredDocument]:
    """Invoices to look for: pending ones without an image; with ``require_image``, also those
    parked because theirs was missing."""
    docs = [
        d
        for d in rt.ledger.documents_with_status(rt.name, [DocStatus.PENDING])
        if d.kind == "invoice" and d.image_sha256 is None
    ]
    if rt.config.posting.require_image:
        parked = {
            int(f.document_id)
            for f in rt.ledger.open_failures(rt.name)
            if f.code == IMAGE_MISSING and f.document_id
        }
        docs += [
            d
            for d in rt.ledger.documents_with_status(rt.name, [DocStatus.PARKED])
            if d.id in parked and d.image_sha256 is None
        ]
    return docs


async def fetch_images(rt: Runtime, source: StampliSource, stats: ImageStats) -> None:
    """Download the image of every invoice waiting for one (see the module docstring)."""
    wanted = [_wanted(d) for d in waiting_for_images(rt)]
    if not wanted:
        return
    listings: dict[str, dict[str, RemoteFile] | None] = {}  # None: no images/ folder there
    for folder in dict.fromkeys(w.folder for w in wanted if w.name and w.export):
        listings[folder] = await _listing(source, folder)
    limit = rt.profile().limits.max_file_bytes
    staging = private_dir(rt.archive_dir / ".incoming" / f"{os.getpid()}-images")
    archive = private_dir(rt.archive_dir / IMAGES_FOLDER)
    fetched: dict[str, tuple[Path, str, int]] = {}  # remote path -> archived copy, sha256, size
    notes: list[tuple[int, Move]] = []  # "posted without an image" notes, written in one commit
    try:
        for w in wanted:
            listing = listings.get(w.folder)
            remote = listing.get(w.name or "") if listing is not None else None
            if remote is None or remote.size > limit:
                _missing(rt, w, _why_missing(w, remote, limit, listing is not None), stats, notes)
                continue
            if remote.path not in fetched:
                dl = await source.download(remote, staging)
                fetched[remote.path] = (archive_download(archive, dl), dl.sha256, dl.size)
            path, sha256, size = fetched[remote.path]
            _found(rt, w, remote.name, path, sha256, size, stats)
    finally:
        if notes:
            rt.ledger.transition_each(notes, actor=rt.actor)
        with contextlib.suppress(OSError):
            staging.rmdir()  # left behind only when a download failed half-way


async def _listing(source: StampliSource, folder: str) -> dict[str, RemoteFile] | None:
    """The ready files of one images/ folder by name; None: there is no such folder."""
    try:
        return {f.name: f for f in await source.list_ready(folder, "*")}
    except NoSuchRemotePathError:
        return None


def _why_missing(w: _Wanted, remote: RemoteFile | None, limit: int, folder_exists: bool) -> str:
    if not w.export:
        return "the export file it was read from is not known, so no image can be found"
    if not folder_exists:
        # An export without images (the customer does not deliver them) is normal, not alarming.
        return f"no images/ folder beside the export {w.export}"
    if not w.name:
        return "the record names no documentFile and has no stampliInvoiceId, so no image can be found"
    if remote is not None:
        return (
            f"image {remote.path} is {remote.size:,} bytes, over the reader profile's limit of "
            f"{limit:,} bytes (limits.max_file_bytes); it was not downloaded"
        )
    return f"no image {w.folder}/{w.name} beside the export {w.export}"


def _missing(rt: Runtime, w: _Wanted, why: str, stats: ImageStats, notes: list[tuple[int, Move]]) -> None:
    doc = w.doc
    if doc.status == DocStatus.PARKED:
        return  # still waiting; its failure says so already
    if rt.config.posting.require_image:
        rt.ledger.park(
            doc.id,
            "image_required",
            category=Category.SOURCE_DATA,
            code=IMAGE_MISSING,
            reason=f"{why}; posting.require_image is on: it posts by itself once Stampli delivers the image",
            actor=rt.actor,
            image_name=w.name,
            image_note=why,
        )
        stats.missing += 1
        log.warning("%s parked: %s", doc.doc_key, why)
    elif doc.image_note != why:
        notes.append(
            (
                doc.id,
                Move(
                    "image_missing",
                    reason=f"{why}; it is posted without an image",
                    values={"image_name": w.name, "image_note": why},
                ),
            )
        )
        stats.missing += 1
        quiet = why.startswith("no images/ folder")  # not one warning per invoice of such an export
        log.log(logging.INFO if quiet else logging.WARNING, "%s has no image: %s", doc.doc_key, why)


def _found(rt: Runtime, w: _Wanted, name: str, path: Path, sha256: str, size: int, stats: ImageStats) -> None:
    doc = w.doc
    columns: dict[str, Any] = {
        "image_name": name,
        "image_sha256": sha256,
        "image_size": size,
        "image_path": str(path),
        "image_note": None,
    }
    details = {"image": f"{w.folder}/{name}", "sha256": sha256, "size": size}
    if doc.status == DocStatus.PARKED:
        why = f"its image {w.folder}/{name} appeared"
        if _record(rt, doc, "image_arrived", why, details, columns):
            rt.ledger.resolve_failures(doc.id, actor=rt.actor, reason="the image appeared")
            stats.arrived += 1
            stats.fetched += 1
    elif _record(rt, doc, "image_fetched", f"image {w.folder}/{name} downloaded", details, columns):
        stats.fetched += 1


def _record(
    rt: Runtime,
    doc: StoredDocument,
    event: str,
    reason: str,
    details: dict[str, Any],
    columns: dict[str, Any],
) -> bool:
    return rt.ledger.transition(doc.id, event, actor=rt.actor, reason=reason, details=details, **columns)


def image_counts(docs: Iterable[StoredDocument]) -> dict[str, int]:
    """How many invoices have an image recorded, attached in Visma, or a missing-image warning."""
    invoices = [d for d in docs if d.kind == "invoice"]
    return {
        "with_image": sum(1 for d in invoices if d.image_sha256),
        "attached": sum(1 for d in invoices if d.image_attached_at is not None),
        "missing": sum(1 for d in invoices if d.image_note),
    }
