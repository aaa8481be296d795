"""The ledger: what ml-connector has seen, claimed, sent and confirmed, on SQLite or PostgreSQL.

Exactly-once rests on three rules kept here:
1. a document moves between states only by compare-and-set (``UPDATE ... WHERE status = old``),
   so two processes can never both claim it;
2. every transition writes its audit row in the same transaction;
3. the intent to post (status ``posting`` with the voucher and its reference) is committed
   *before* the create is sent, so a crash leaves a trace that recovery settles by looking
   the reference up in Visma.

``Ledger`` only assembles the parts, one module per responsibility: ``engine`` (database,
transactions, migrations), ``writer`` and ``awaited`` (the posting path's calls off the event loop,
group-committed), ``audit``, ``files``, ``documents``, ``failures``, ``cache`` (Visma
data), ``sync_marks``, ``runs``, ``identity`` (whose history it is) and ``vendor_store`` (the vendor
export's records, as ``Ledger.vendors``).

The pipeline sees it only as ``pipeline/ports.py::LedgerPort`` (it satisfies the port structurally;
``tests/ledger/test_ledger_port.py`` checks that it does).
"""

from __future__ import annotations

from ml_connector.ledger.audit import AuditLog
from ml_connector.ledger.awaited import AwaitedDocuments
from ml_connector.ledger.cache import MasterDataCache
from ml_connector.ledger.claims import claim_is_dead, worker_id
from ml_connector.ledger.clock import utcnow
from ml_connector.ledger.documents import DocumentRecords
from ml_connector.ledger.engine import MIGRATION_LOCK_KEY, MIGRATIONS
from ml_connector.ledger.failures import FailureRecords
from ml_connector.ledger.files import FileRecords
from ml_connector.ledger.identity import IdentityRecords
from ml_connector.ledger.moves import Move
from ml_connector.ledger.runs import RunLog
from ml_connector.ledger.states import DocStatus
from ml_connector.ledger.sync_marks import SyncMarks
from ml_connector.ledger.vendor_store import VendorStore

__all__ = [
    "MIGRATIONS",
    "MIGRATION_LOCK_KEY",
    "DocStatus",
    "Ledger",
    "Move",
    "claim_is_dead",
    "utcnow",
    "worker_id",
]


class Ledger(
    AuditLog,
    FileRecords,
    DocumentRecords,
    FailureRecords,
    MasterDataCache,
    SyncMarks,
    RunLog,
    IdentityRecords,
):
    """The whole ledger; call sites keep ``rt.ledger.x(...)`` whichever part ``x`` lives in.

    ``aio``: the posting path's document calls, awaited (``ledger.awaited``): same names, run by
    the writer thread, many documents per commit. ``vendors``: the vendor export's records."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.aio = AwaitedDocuments(self.writer)
        self.vendors = VendorStore(self)
