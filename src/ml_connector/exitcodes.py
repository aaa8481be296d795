"""Exit codes of the command line, in one place, so a cron job or a monitor can act on them.

    0  OK               everything that came in was posted, or skipped for a stated reason
                        (not approved, duplicate, superseded); ``check``: every check passed
    1  FAILED           a connection's cycle failed or only half ran (Visma or SFTP unreachable,
                        the ledger refused its identity, an unexpected error); ``check``: a check failed
    2  CONFIG           the configuration or a secret is wrong or missing (the message names the key)
    3  PARKED           documents were parked or hit a conflict: a person must act (``failures``)
    4  REJECTED         a file or a record was rejected as unreadable or invalid (``failures``)
    5  NOT_FINISHED     documents are not posted yet (outcome unknown, or Visma asked to retry later);
                        the next run settles them without sending anything twice
    6  NOTHING_ENABLED  no connection is enabled, so nothing ran or was checked

When several apply, ``run`` exits with the lowest non-zero code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

OK = 0
FAILED = 1
CONFIG = 2
PARKED = 3
REJECTED = 4
NOT_FINISHED = 5
NOTHING_ENABLED = 6

# What ``run`` prints next to a non-zero code: what happened and where to look.
MEANING = {
    FAILED: "a connection's cycle failed or only half ran (see the errors above)",
    PARKED: "documents were parked or hit a conflict; see `ml-connector failures`",
    REJECTED: "files or records were rejected; see `ml-connector failures`",
    NOT_FINISHED: "documents are not posted yet (outcome unknown or retry later); the next run settles them",
}


class _Intake(Protocol):
    files_rejected: int
    records_rejected: int
    conflicts: int


class _Posting(Protocol):
    parked: int
    unknown: int
    retry_later: int


class _Cycle(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def intake(self) -> _Intake: ...
    @property
    def posting(self) -> _Posting: ...


def for_run(results: Iterable[_Cycle]) -> int:
    """The exit code of ``run`` for the cycles it ran (one per connection)."""
    codes = [OK]
    for r in results:
        if r.status != "ok":
            codes.append(FAILED)
        if r.posting.parked or r.intake.conflicts:
            codes.append(PARKED)
        if r.intake.files_rejected or r.intake.records_rejected:
            codes.append(REJECTED)
        if r.posting.unknown or r.posting.retry_later:
            codes.append(NOT_FINISHED)
    failing = [c for c in codes if c != OK]
    return min(failing) if failing else OK
