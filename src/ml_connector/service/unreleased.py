"""Documents created in Visma but not released, per financial period.

An unreleased supplier invoice (On hold / Balanced) blocks Visma's close of the supplier-ledger
period, and an unreleased journal batch the GL's: ``status`` and the dashboard show how many each
period has. A document is unreleased when the ledger holds it as ``created`` (the release is still
to do, or was refused and parked from there) or posted with releasing off (``posting.release =
false``: the "posted" event, "left on hold", and no "released" after it).
"""

from __future__ import annotations

from collections import Counter

from ml_connector.ledger.store import DocStatus, Ledger


def unreleased_by_period(ledger: Ledger, connection: str) -> dict[str, int]:
    """``{YYYYMM: count}`` of the connection's documents in Visma that are not released."""
    on_hold = ledger.keys_with_action(connection, "posted") - ledger.keys_with_action(connection, "released")
    counts: Counter[str] = Counter()
    for doc in ledger.documents_with_status(connection, [DocStatus.CREATED, DocStatus.POSTED]):
        if doc.status == DocStatus.CREATED or doc.doc_key in on_hold:
            counts[str(doc.period or "")] += 1
    return dict(sorted(counts.items()))
