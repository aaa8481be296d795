"""Document states and the one table of the changes allowed between them.

Every change of a document's status names an event of ``TRANSITIONS``; the ledger
(``documents.DocumentRecords``) takes the allowed from-states, the possible to-states, the audit
action and the columns it may write from here, so that no call site repeats a from-list.
``docs/exactly-once.md`` shows this table (``python -m ml_connector.ledger.states`` prints it).

No database here: this is the state machine, the ledger applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class DocStatus:
    READING = "reading"  # read from a file whose reading has not finished: waits for the whole file
    PENDING = "pending"  # known, not yet sent (new, replayed, or settled as "not in Visma")
    POSTING = "posting"  # claimed; the create may be on the wire
    UNKNOWN = "unknown"  # the create's outcome is unknown: look the reference up before anything else
    CREATED = "created"  # the batch exists in Visma; release still to do
    POSTED = "posted"  # done
    PARKED = "parked"  # a failure a person or a master-data change must resolve
    SKIPPED = "skipped"  # not approved in Stampli, or a payment Visma pays; never posted

    OPEN = (PENDING, POSTING, UNKNOWN, CREATED)
    # not sent to Visma as far as a re-export is concerned: a changed one replaces the stored copy
    NOT_POSTED = (READING, PENDING, PARKED, SKIPPED)
    # every status, in the order a document usually goes through them (lists, filters, counts)
    ALL = (READING, PENDING, POSTING, UNKNOWN, CREATED, POSTED, PARKED, SKIPPED)


CLAIM_COLUMNS = ("claimed_by", "claim_expires")
IMAGE_COLUMNS = ("image_name", "image_sha256", "image_size", "image_path", "image_note")


@dataclass(frozen=True)
class Transition:
    """One event: from which states, to which, and what it records besides the new status and
    ``updated_at`` (always written, with one audit row ``action`` in the same transaction)."""

    event: str
    sources: tuple[str, ...]  # empty: the document is new (an insert, not a compare-and-set)
    targets: tuple[str, ...]  # more than one: the caller chooses (e.g. created or posted)
    action: str  # the audit row's action
    records: tuple[str, ...] = ()  # document columns the caller may set with it
    ends_claim: bool = False  # clears claimed_by and claim_expires
    opens_failure: bool = False  # supersedes the document's open failure and opens a new one
    meaning: str = ""

    def target(self, to_status: str | None) -> str:
        """The to-state: the only one, or the caller's choice among ``targets``."""
        if to_status is None:
            if len(self.targets) != 1:
                raise ValueError(f"event {self.event!r} needs a to-state among {self.targets}")
            return self.targets[0]
        if to_status not in self.targets:
            raise ValueError(f"event {self.event!r} cannot lead to {to_status!r}")
        return to_status

    def check_columns(self, columns: Mapping[str, object]) -> None:
        extra = sorted(set(columns) - set(self.records))
        if extra:
            raise ValueError(f"event {self.event!r} does not record {', '.join(extra)}")


S = DocStatus
_TABLE = (
    Transition(
        "received",
        (),
        (S.READING, S.PENDING, S.SKIPPED),
        "received",
        meaning="a document read from an export (reading: its file is still being read; skipped: not "
        "approved, a payment voided before posting, or a payment when Visma pays, "
        '`payments.source = "visma"`)',
    ),
    Transition(
        "superseded",
        S.NOT_POSTED,
        (S.READING, S.PENDING),
        "superseded",
        records=("source", "raw", "content_hash", "file_id"),
        meaning="a re-export with changed content replaces a document that never reached Visma "
        "(reading: until the file it came in is read to its end)",
    ),
    Transition(
        "read_again",
        (S.READING, S.SKIPPED),
        (S.READING,),
        "read_again",
        records=("file_id",),
        meaning="another file holds it again with the same content while its own file broke off or was "
        "set aside (skipped: only then): it now waits for that file",
    ),
    Transition(
        "file_read",
        (S.READING,),
        (S.PENDING,),
        "file_read",
        meaning="the file it came in was read to its end (in bulk, with the file's outcome): it may post",
    ),
    Transition(
        "file_set_aside",
        (S.READING,),
        (S.SKIPPED,),
        "set_aside",
        meaning="the file it came in broke off and was set aside (`replay --set-aside`): never posted, "
        "unless another file holds it again",
    ),
    Transition(
        "voided",
        (S.READING, S.PENDING, S.PARKED),
        (S.SKIPPED,),
        "voided",
        meaning="the payment was voided in Stampli before it was posted (applied once the void's file "
        "was read to its end)",
    ),
    Transition(
        "visma_pays",
        (S.PENDING,),
        (S.SKIPPED,),
        "skipped",
        meaning='a payment read before the connection said `payments.source = "visma"`: never posted',
    ),
    Transition(
        "found_in_visma",
        (S.PENDING,),
        (S.CREATED, S.POSTED),
        "found_in_visma",
        records=("batch_number", "voucher", "period", "etag"),
        meaning="its reference is already booked in Visma: adopted, never sent",
    ),
    Transition(
        "duplicate_in_visma",
        (S.PENDING,),
        (S.PARKED,),
        "parked",
        ends_claim=True,
        opens_failure=True,
        meaning="Visma already holds a supplier document with its supplier reference that is not ours "
        "(another channel, e.g. an e-invoice): never sent, a person decides",
    ),
    Transition(
        "claimed",
        (S.PENDING,),
        (S.POSTING,),
        "claimed",
        records=("voucher", "period", "claimed_by", "claim_expires", "attempts"),
        meaning="the intent to post, committed before the create is sent",
    ),
    Transition(
        "unpostable",
        (S.PENDING,),
        (S.PARKED,),
        "parked",
        ends_claim=True,
        opens_failure=True,
        meaning="no voucher can be built (mapping, master data)",
    ),
    Transition(
        "created",
        (S.POSTING,),
        (S.CREATED,),
        "created",
        records=("batch_number", "etag"),
        meaning="Visma created the batch",
    ),
    Transition(
        "outcome_unknown",
        (S.POSTING,),
        (S.UNKNOWN,),
        "outcome_unknown",
        meaning="timeout, drop or 5xx after sending: looked up by reference before anything else",
    ),
    Transition(
        "claim_expired",
        (S.POSTING,),
        (S.UNKNOWN,),
        "claim_expired",
        meaning="its claimant is gone (dead pid on this host, or lease over); the create may have landed",
    ),
    Transition(
        "retry_later",
        (S.POSTING,),
        (S.PENDING,),
        "retry_later",
        ends_claim=True,
        meaning="Visma was not reachable before the request was sent",
    ),
    Transition(
        "aborted",
        (S.POSTING,),
        (S.PENDING,),
        "aborted",
        meaning="Visma refused the credentials (401/403 after a token renewal): the cycle stops",
    ),
    Transition(
        "rejected",
        (S.POSTING,),
        (S.PARKED,),
        "parked",
        ends_claim=True,
        opens_failure=True,
        meaning="Visma refused the create (failure: reason, Visma's answer)",
    ),
    Transition(
        "posted",
        (S.CREATED,),
        (S.POSTED,),
        "posted",
        meaning="releasing is off: the batch is left on hold",
    ),
    Transition(
        "released",
        (S.CREATED,),
        (S.POSTED,),
        "released",
        records=("etag",),
        ends_claim=True,
        meaning="the batch was released (or found already released)",
    ),
    Transition(
        "release_rejected",
        (S.CREATED,),
        (S.PARKED,),
        "parked",
        ends_claim=True,
        opens_failure=True,
        meaning="Visma refused the release",
    ),
    Transition(
        "settled_found",
        (S.UNKNOWN,),
        (S.CREATED, S.POSTED),
        "settled_found",
        records=("batch_number", "etag"),
        meaning="the lookup found its reference in Visma",
    ),
    Transition(
        "settled_not_found",
        (S.UNKNOWN,),
        (S.PENDING,),
        "settled_not_found",
        ends_claim=True,
        meaning="the lookup did not find it (for the attempt it read): safe to post",
    ),
    Transition(
        "replayed",
        (S.PARKED,),
        (S.PENDING, S.CREATED),
        "replayed",
        meaning="`replay`, or auto-replay once the missing master data exists (created: a batch exists)",
    ),
    # The invoice image (pipeline/images.py fetches it with the export, pipeline/attach.py attaches
    # it between create and release). Attaching again is harmless (Visma makes a new revision).
    Transition(
        "image_fetched",
        (S.PENDING,),
        (S.PENDING,),
        "image_fetched",
        records=IMAGE_COLUMNS,
        meaning="the invoice's image was downloaded from images/ beside the export and archived",
    ),
    Transition(
        "image_missing",
        (S.PENDING,),
        (S.PENDING,),
        "image_missing",
        records=("image_name", "image_note"),
        meaning="no image beside the export: a warning on the document, which posts without one",
    ),
    Transition(
        "image_required",
        (S.PENDING,),
        (S.PARKED,),
        "parked",
        records=("image_name", "image_note"),
        opens_failure=True,
        meaning="no image and `posting.require_image`: parked until the image appears",
    ),
    Transition(
        "image_arrived",
        (S.PARKED,),
        (S.PENDING,),
        "image_arrived",
        records=IMAGE_COLUMNS,
        meaning="the image a parked document waited for appeared: downloaded, and the document posts",
    ),
    Transition(
        "attaching",
        (S.CREATED,),
        (S.CREATED,),
        "attaching",
        meaning="about to upload the image to the created document (sent again after a crash: harmless)",
    ),
    Transition(
        "attached",
        (S.CREATED,),
        (S.CREATED,),
        "attached",
        records=("image_attached_at", "etag"),
        meaning="Visma stored the image on the document (its new version: `etag`); release comes next",
    ),
    Transition(
        "attach_rejected",
        (S.CREATED,),
        (S.PARKED,),
        "parked",
        ends_claim=True,
        opens_failure=True,
        meaning="Visma refused the image (failure with Visma's answer; replay attaches again)",
    ),
)
del S

TRANSITIONS: Mapping[str, Transition] = {t.event: t for t in _TABLE}


def step(event: str) -> Transition:
    try:
        return TRANSITIONS[event]
    except KeyError:
        raise ValueError(f"no document transition {event!r}") from None


def markdown_table() -> str:
    """The table as docs/exactly-once.md shows it."""

    def states(names: tuple[str, ...]) -> str:
        return ", ".join(f"`{n}`" for n in names) if names else "(new)"

    lines = [
        "| Event | From | To | Audit action | Also records | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for t in _TABLE:
        records = [f"`{c}`" for c in t.records]
        if t.ends_claim:
            records.append("clears the claim")
        if t.opens_failure:
            records.append("opens a failure")
        lines.append(
            f"| `{t.event}` | {states(t.sources)} | {states(t.targets)} | `{t.action}` "
            f"| {', '.join(records) or '-'} | {t.meaning} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
