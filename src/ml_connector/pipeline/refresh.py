"""Refresh the ledger's cache of Visma master data: incrementally where Visma allows it.

Accounts and suppliers are read with ``lastModifiedDateTime`` from the last mark on; the
SUBACCOUNT dimension, periods and currencies are small and read whole. Five calls per cycle,
none per invoice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ml_connector.adapters.visma.models import Account, Currency, FinancialPeriod, Segment, Supplier
from ml_connector.ledger.store import Ledger
from ml_connector.pipeline.masterdata import (
    ACCOUNT,
    CURRENCY,
    PERIOD,
    SEGMENT_VALUE,
    SUPPLIER,
    MasterData,
    segment_key,
)


class MasterDataSource(Protocol):
    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]: ...
    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]: ...
    async def subaccount_dimension(self) -> list[Segment]: ...
    async def financial_periods(self) -> list[FinancialPeriod]: ...
    async def currencies(self) -> list[Currency]: ...


def _latest(current: datetime | None, items: list[Account] | list[Supplier]) -> datetime | None:
    stamps: list[datetime] = [i.last_modified for i in items if i.last_modified is not None]
    if not stamps:
        return current
    newest = max(stamps)
    if current is None or (newest.tzinfo is None) != (current.tzinfo is None):
        return newest
    return max(current, newest)


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


async def refresh(
    visma: MasterDataSource, ledger: Ledger, connection: str, company_id: str, *, timezone: str = "UTC"
) -> MasterData:
    """``timezone``: the zone of Visma's offset-less timestamps (company-local time)."""
    zone = ZoneInfo(timezone)
    mark = ledger.sync_mark(connection, ACCOUNT)
    accounts = await visma.accounts(modified_since=mark)
    ledger.upsert_master(connection, ACCOUNT, account_entries(accounts))
    ledger.set_sync_mark(connection, ACCOUNT, as_aware(_latest(mark, accounts), zone))

    mark = ledger.sync_mark(connection, SUPPLIER)
    suppliers = await visma.suppliers(modified_since=mark)
    ledger.upsert_master(connection, SUPPLIER, supplier_entries(suppliers))
    ledger.set_sync_mark(connection, SUPPLIER, as_aware(_latest(mark, suppliers), zone))

    segments = await visma.subaccount_dimension()
    ledger.replace_master(connection, SEGMENT_VALUE, segment_entries(segments))
    periods = await visma.financial_periods()
    ledger.replace_master(
        connection,
        PERIOD,
        {
            p.period: (
                p.active is not False,
                {
                    "closed_in_gl": bool(p.closed_in_gl),
                    "start_date": p.start_date.isoformat() if p.start_date else None,
                },
            )
            for p in periods
        },
    )
    currencies = await visma.currencies()
    ledger.replace_master(
        connection, CURRENCY, {c.id: (True, {"is_base": bool(c.is_base)}) for c in currencies}
    )
    return snapshot(ledger, connection, company_id)


def as_aware(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """The ledger keeps aware times; Visma's offset-less ones are read in the company's zone (the
    client converts the mark back to that zone when it sends ``lastModifiedDateTime``)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone)


def snapshot(ledger: Ledger, connection: str, company_id: str) -> MasterData:
    return MasterData(
        company_id=company_id,
        accounts=ledger.master(connection, ACCOUNT),
        segment_values=ledger.master(connection, SEGMENT_VALUE),
        suppliers=ledger.master(connection, SUPPLIER),
        periods=ledger.master(connection, PERIOD),
        currencies=ledger.master(connection, CURRENCY),
    )
