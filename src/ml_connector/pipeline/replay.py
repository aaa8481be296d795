"""Manual replay of failures, from what the ledger stored: never from a new download.

A parked document goes back to ``pending`` (or to ``created`` when its batch already exists in
Visma and only the release failed). A rejected file or record is read again from our archive copy,
with the current reader profile; whatever still fails opens a fresh failure.

``set_aside`` is the other answer to a rejected file: the operator decides it is not to be read
again (a broken export Stampli will send again corrected, a stray file). Its failure closes, the
file keeps status ``set_aside`` in the ledger and its archived copy stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.intake import IntakeStats, process_file
from ml_connector.pipeline.runtime import Runtime


@dataclass
class ReplayResult:
    requeued: list[str] = field(default_factory=list)
    files_reread: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "id: why"


def replay(rt: Runtime, failure_ids: list[int] | None, *, actor: str) -> ReplayResult:
    result = ReplayResult()
    open_failures = rt.ledger.open_failures(rt.name)
    wanted = open_failures if failure_ids is None else [f for f in open_failures if f.id in set(failure_ids)]
    if failure_ids is not None:
        known = {f.id for f in wanted}
        for fid in failure_ids:
            if fid not in known:
                result.refused.append(f"{fid}: no open failure with this id in connection {rt.name}")
    files_done: set[int] = set()
    for f in wanted:
        if f.code == "conflict":
            result.refused.append(
                f"{f.id}: a conflict with a posted document is settled by hand in Visma, not replayed"
            )
            continue
        if f.document_id is not None:
            doc = rt.ledger.document_by_id(int(f.document_id))
            target = DocStatus.CREATED if doc.batch_number else DocStatus.PENDING
            if rt.ledger.transition(
                doc.id,
                "replayed",
                target,
                actor=actor,
                reason=f"replay of failure {f.id} requested by {actor}",
            ):
                rt.ledger.resolve_failures(doc.id, actor=actor, reason="replayed")
                result.requeued.append(str(doc.doc_key))
            else:
                result.refused.append(f"{f.id}: document {doc.doc_key} is {doc.status}, not parked")
            continue
        file_id = f.file_id
        if file_id is None or int(file_id) in files_done:
            continue
        files_done.add(int(file_id))
        row = next(
            (r for r in rt.ledger.files_with_status(rt.name, ["rejected", "partial"]) if r.id == file_id),
            None,
        )
        if row is None or not row.archive_path or not Path(row.archive_path).exists():
            result.refused.append(f"{f.id}: the archived copy of the file is not available")
            continue
        rt.ledger.resolve_failures(
            None, file_id=int(file_id), actor=actor, reason="file read again by replay"
        )
        process_file(
            rt,
            int(file_id),
            Path(row.archive_path),
            row.remote_path,
            row.kind,
            row.sha256,
            IntakeStats(),
        )
        result.files_reread.append(str(row.remote_path))
    return result


SET_ASIDE_FROM = ("rejected", "too_large")  # files rejected as a whole


@dataclass
class SetAsideResult:
    files: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "id: why"


def set_aside(rt: Runtime, failure_ids: list[int], *, actor: str) -> SetAsideResult:
    """Set aside the rejected files of these failures (this connection's only)."""
    result = SetAsideResult()
    mine = {f.id: f for f in rt.ledger.open_failures(rt.name)}
    for fid in failure_ids:
        f = mine.get(fid)
        if f is None:
            result.refused.append(f"{fid}: no open failure with this id in connection {rt.name}")
            continue
        if f.document_id is not None or f.file_id is None or f.doc_key is not None:
            result.refused.append(f"{fid}: only a file rejected as a whole can be set aside; replay this one")
            continue
        row = next(
            (r for r in rt.ledger.files_with_status(rt.name, SET_ASIDE_FROM) if r.id == f.file_id), None
        )
        reason = f"set aside by {actor} (failure {fid})"
        if row is None or not rt.ledger.set_file_aside(
            row.id, from_statuses=SET_ASIDE_FROM, actor=actor, reason=reason
        ):
            result.refused.append(f"{fid}: its file is no longer rejected")
            continue
        result.files.append(str(row.remote_path))
    return result
