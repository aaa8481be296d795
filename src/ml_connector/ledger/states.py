"""Document states (``DocStatus``)."""

from __future__ import annotations


class DocStatus:
    PENDING = "pending"  # known, not yet sent (new, replayed, or settled as "not in Visma")
    POSTING = "posting"  # claimed; the create may be on the wire
    UNKNOWN = "unknown"  # the create's outcome is unknown: look the reference up before anything else
    CREATED = "created"  # the batch exists in Visma; release still to do
    POSTED = "posted"  # done
    PARKED = "parked"  # a failure a person or a master-data change must resolve
    SKIPPED = "skipped"  # not approved in Stampli; never posted

    OPEN = (PENDING, POSTING, UNKNOWN, CREATED)

