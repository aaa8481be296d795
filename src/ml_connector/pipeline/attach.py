"""Attach the invoice image to the document Visma created, between create and release.

    created --attaching (recorded)--> upload --attached (image_attached_at)--> release
                                        |--refused--> parked (attach_rejected, Visma's answer)
                                        \\--not reachable / outcome unknown--> stays created: next cycle

Recorded before and after, like every effect on Visma. An upload whose outcome is unknown (a crash
after sending, a timeout) is simply sent again: Visma keeps one attachment per file name and makes
a new revision of it (visma-ap.md §4), so the document never gets a second, different attachment.

The bytes sent are our archived copy, checked against the sha256 recorded when it was downloaded;
Visma's answer must name the file with a revision. Visma's API reads back no size or hash of a
stored file, so that answer is the check the API allows (the simulator compares the bytes, in the
tests).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Protocol

from ml_connector.config.model import ConnectionConfig
from ml_connector.domain.problems import Category, Problem
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.voucher_codec import SUPPLIER_INVOICE
from ml_connector.errors import (
    AmbiguousDestinationError,
    RejectedByDestinationError,
    RetriableDestinationError,
)
from ml_connector.ledger.claims import claim_is_dead, worker_id
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.crashpoints import crashpoint
from ml_connector.pipeline.ports import PostingTarget, VismaPort
from ml_connector.pipeline.runtime import Runtime

log = logging.getLogger("ml_connector.attach")

# Documents this process is attaching now: a second step of the same process leaves them alone.
_IN_FLIGHT: set[int] = set()


class StatsWithAttach(Protocol):
    """What ``attach_image`` counts into (``PostingStats``)."""

    attached: int
    parked: int
    retry_later: int


def image_ready(cfg: ConnectionConfig, row: StoredDocument) -> bool:
    """May this document be posted now? Only an invoice that must carry its image
    (``posting.require_image``) and has none yet must wait (its image lookup did not finish)."""
    return not (cfg.posting.require_image and row.kind == "invoice" and row.image_sha256 is None)


def _archived_image(row: StoredDocument) -> bytes | None:
    """Our archived copy of the image, or None when it is gone or not what was downloaded."""
    try:
        content = Path(str(row.image_path)).read_bytes()
    except OSError:
        return None
    return content if hashlib.sha256(content).hexdigest() == row.image_sha256 else None


def _target(visma: VismaPort, row: StoredDocument) -> PostingTarget[Any]:
    """Where the document was created: a supplier invoice (its stored voucher says so) or a batch."""
    if (row.voucher or {}).get("kind") == SUPPLIER_INVOICE and visma.supplier_ledger is not None:
        return visma.supplier_ledger
    return visma.posting


async def attach_image(
    rt: Runtime, visma: VismaPort, row: StoredDocument, stats: StatsWithAttach
) -> StoredDocument | None:
    """Attach the document's image to its created Visma document, if it has one not yet attached.
    The document as it is now (release next; an upload changes its ETag, which the release must
    name), or None: it stays created (retried next cycle) or was parked."""
    if not row.image_path or row.image_attached_at is not None or not row.batch_number:
        return row
    if row.id in _IN_FLIGHT:
        return None  # this process is attaching it right now (a post job beside a cycle's settle)
    _IN_FLIGHT.add(row.id)
    try:
        return await _attach(rt, visma, row, stats)
    finally:
        _IN_FLIGHT.discard(row.id)


async def _attach(
    rt: Runtime, visma: VismaPort, row: StoredDocument, stats: StatsWithAttach
) -> StoredDocument | None:
    # Read again: a caller's row may predate another step's attach (settle lists first, then works).
    row = rt.ledger.document_by_id(row.id)
    if row.status != DocStatus.CREATED or row.image_attached_at is not None:
        return row if row.status == DocStatus.CREATED else None
    if row.claimed_by != worker_id() and not claim_is_dead(row.claimed_by, row.claim_expires, utcnow()):
        # Its claimant (another live process) attaches and releases it; a second upload after its
        # release would change the version Visma holds and the ledger recorded.
        return None
    number, name = str(row.batch_number), str(row.image_name)
    content = _archived_image(row)
    if content is None:
        _park(
            rt,
            row,
            Category.CONNECTIVITY,
            "image_archive",
            f"the archived image {row.image_path} is missing or no longer matches sha256 "
            f"{row.image_sha256}; restore it (or replay after Stampli delivers it again)",
            None,
            stats,
        )
        return None
    rt.ledger.transition(
        row.id,
        "attaching",
        actor=rt.actor,
        reason=f"uploading {name} ({len(content)} bytes) to {number}",
        details={"sha256": row.image_sha256, "size": len(content)},
    )
    crashpoint("before_attach")
    try:
        answer = await _target(visma, row).attach(number, name, content)
    except RejectedByDestinationError as exc:
        _park(
            rt,
            row,
            exc.fix_by,
            f"attach_refused_{exc.status or 400}",
            f"Visma created {number} but refused its image {name}: {exc.visma_message or exc}; fix it, "
            "then replay (the document is not created again; the image is attached, then released)",
            exc.visma_message or str(exc),
            stats,
        )
        return None
    except (RetriableDestinationError, AmbiguousDestinationError) as exc:
        stats.retry_later += 1
        log.warning("image %s of %s deferred to the next cycle: %s", name, number, exc)
        return None
    crashpoint("after_attach")
    if answer.name and answer.name != name:
        _park(
            rt,
            row,
            Category.CONNECTIVITY,
            "attach_unconfirmed",
            f"Visma answered the upload of {name} to {number} with another file ({answer.name}); "
            "check the document in Visma, then replay",
            f"{answer.name} revision {answer.revision}",
            stats,
        )
        return None
    if rt.ledger.transition(
        row.id,
        "attached",
        actor=rt.actor,
        reason=f"image {name} attached to {number} (revision {answer.revision or '?'})",
        details={
            "attachment_id": answer.attachment_id,
            "revision": answer.revision,
            "sha256": row.image_sha256,
            "size": len(content),
        },
        image_attached_at=utcnow(),
        etag=answer.etag or row.etag,
    ):
        stats.attached += 1
    return rt.ledger.document_by_id(row.id)


def _park(
    rt: Runtime,
    row: StoredDocument,
    category: str,
    code: str,
    reason: str,
    visma_answer: str | None,
    stats: StatsWithAttach,
) -> None:
    problem = Problem(category, code, reason)
    if rt.ledger.park(
        row.id,
        "attach_rejected",
        category=problem.category,
        code=problem.code,
        reason=problem.reason,
        actor=rt.actor,
        visma_answer=visma_answer,
    ):
        stats.parked += 1
