"""The posting path's ledger calls, awaited: ``await ledger.aio.transition(...)``.

Same names, arguments and compare-and-set semantics as ``DocumentRecords``; each call is run by the
writer thread (``ledger.writer``), which commits many documents' calls at once and answers each only
after its commit. The event loop never waits for a database or an fsync, so the other documents in
flight keep going while one is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.documents import (
    apply_moves,
    claim_in,
    park_in,
    read_document,
    read_with_status,
)
from ml_connector.ledger.moves import Move
from ml_connector.ledger.writer import LedgerWriter


class AwaitedDocuments:
    """The document reads and moves of posting and settling, run off the event loop."""

    def __init__(self, writer: LedgerWriter) -> None:
        self.writer = writer

    async def document_by_id(self, doc_id: int) -> StoredDocument:
        return await self.writer.run(lambda conn: read_document(conn, doc_id))

    async def documents_with_status(self, connection: str, statuses: Sequence[str]) -> list[StoredDocument]:
        return await self.writer.run(lambda conn: read_with_status(conn, connection, statuses))

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
    ) -> bool:
        """``DocumentRecords.transition``, committed by the writer thread."""
        move = Move(event, to_status, reason=reason, details=details, expect=expect, values=values)
        return await self.writer.run(lambda conn: apply_moves(conn, doc_id, [move], actor=actor))

    async def transitions(self, doc_id: int, moves: Sequence[Move], *, actor: str) -> bool:
        """Several events in one commit, all or nothing (``documents.apply_moves``): for steps that
        need no durable record of their own between them, e.g. ``created`` then ``posted``."""
        return await self.writer.run(lambda conn: apply_moves(conn, doc_id, moves, actor=actor))

    async def claim(self, doc_id: int, *, voucher: dict[str, Any], period: str, lease: timedelta) -> bool:
        return await self.writer.run(
            lambda conn: claim_in(conn, doc_id, voucher=voucher, period=period, lease=lease)
        )

    async def park(self, doc_id: int, event: str, **kwargs: Any) -> bool:
        """``DocumentRecords.park`` (the arguments: ``documents.park_in``'s)."""
        return await self.writer.run(lambda conn: park_in(conn, doc_id, event, **kwargs))
