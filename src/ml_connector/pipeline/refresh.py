"""Refresh the ledger's cache of Visma master data: incrementally where Visma allows it.

Accounts and suppliers are read with ``lastModifiedDateTime`` from the last mark on; the
SUBACCOUNT dimension, periods and currencies are small and read whole. Five calls per cycle,
none per invoice, sent at once: an idle cycle waits for one round trip to Visma, not five.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ml_connector.domain.masterdata import Account, Segment, Supplier
from ml_connector.pipeline.masterdata import (
    ACCOUNT,
    CURRENCY,
    PERIOD,
    SEGMENT_VALUE,
    SUPPLIER,
    MasterData,
    segment_key,
)
from ml_connector.pipeline.ports import LedgerPort, MasterDataReads


def _latest(current: datetime | None, items: list[Account] | list[Supplier]) -> datetime | None:
    stamps: list[datetime] = [i.last_modified for i in items if i.last_modified is not None]
    if not stamps:
        return current
    newest = max(stamps)
    return newest if current is None else max(current, newest)


def account_entries(accounts: list[Account]) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Accounts as the master-data cache (and ``check``) hold them: number -> (active, facts)."""
    return {
        a.number: (
            a.active is not False,
            {
                "description": a.description,
                "type": a.type,
                "allow_manual_entry": a.allow_manual_entry,
                "control_account_module": a.control_account_module,
                "currency": a.currency,
            },
        )
        for a in accounts
    }


def segment_entries(segments: list[Segment]) -> dict[str, tuple[bool, dict[str, Any]]]:
    """SUBACCOUNT segment values as the cache holds them: "segment:value" -> (active, facts)."""
    return {
        segment_key(seg.segment_id, v.value): (v.active is not False, {"description": v.description})
        for seg in segments
        for v in seg.values
    }


def supplier_entries(suppliers: list[Supplier]) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Suppliers as the cache holds them: number -> (active, facts)."""
    return {
        s.number: (
            (s.status or "Active").lower() == "active",
            {"name": s.name, "status": s.status, "currency": s.currency_id},
        )
        for s in suppliers
    }


async def refresh(visma: MasterDataReads, ledger: LedgerPort, connection: str, company_id: str) -> MasterData:
    """``visma``: the Visma port's master-data reads (``VismaPort.masterdata``); every time it hands
    out is aware UTC already, and the marks are kept as such."""
    account_mark = ledger.sync_mark(connection, ACCOUNT)
    supplier_mark = ledger.sync_mark(connection, SUPPLIER)
    reads = (
        asyncio.ensure_future(visma.accounts(modified_since=account_mark)),
        asyncio.ensure_future(visma.suppliers(modified_since=supplier_mark)),
        asyncio.ensure_future(visma.subaccount_dimension()),
        asyncio.ensure_future(visma.financial_periods()),
        asyncio.ensure_future(visma.currencies()),
    )
    try:
        accounts, suppliers, segments, periods, currencies = await asyncio.gather(*reads)
    except BaseException:
        await _cancel(*reads)  # the first failure ends the refresh; nothing is written
        raise

    ledger.upsert_master(connection, ACCOUNT, account_entries(accounts))
    ledger.set_sync_mark(connection, ACCOUNT, _latest(account_mark, accounts))
    ledger.upsert_master(connection, SUPPLIER, supplier_entries(suppliers))
    ledger.set_sync_mark(connection, SUPPLIER, _latest(supplier_mark, suppliers))
    ledger.replace_master(connection, SEGMENT_VALUE, segment_entries(segments))
    ledger.replace_master(
        connection,
        PERIOD,
        {
            p.period: (
                p.active is not False,
                {
                    "closed_in_gl": bool(p.closed_in_gl),
                    "closed_in_ap": bool(p.closed_in_ap),
                    "start_date": p.start_date.isoformat() if p.start_date else None,
                },
            )
            for p in periods
        },
    )
    ledger.replace_master(
        connection, CURRENCY, {c.id: (True, {"is_base": bool(c.is_base)}) for c in currencies}
    )
    return snapshot(ledger, connection, company_id)


async def _cancel(*reads: asyncio.Future[Any]) -> None:
    """Cancel the reads still running and wait for them (none outlives the client it uses)."""
    for read in reads:
        read.cancel()
    await asyncio.gather(*reads, return_exceptions=True)


def snapshot(ledger: LedgerPort, connection: str, company_id: str) -> MasterData:
    return MasterData(
        company_id=company_id,
        accounts=ledger.master(connection, ACCOUNT),
        segment_values=ledger.master(connection, SEGMENT_VALUE),
        suppliers=ledger.master(connection, SUPPLIER),
        periods=ledger.master(connection, PERIOD),
        currencies=ledger.master(connection, CURRENCY),
    )
