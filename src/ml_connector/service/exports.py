"""Master-data exports from Visma to Stampli's inbound folders: the vendor list (``vendors export``) and
the coding lists with it (``masterdata export``), per connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ml_connector.ledger.store import Ledger
from ml_connector.masterdata.export import MasterdataResult, applicable, export_masterdata
from ml_connector.masterdata.lists import LIST_NAMES, VENDORS
from ml_connector.pipeline.runtime import Runtime
from ml_connector.service.app import App
from ml_connector.vendors.export import ExportResult, Mode, export_vendors

__all__ = [
    "LIST_NAMES",
    "VENDORS",
    "ConnectionExport",
    "ExportResult",
    "MasterdataResult",
    "Mode",
    "export_lists",
    "export_vendor_lists",
]


@dataclass
class ConnectionExport:
    """One connection's ``masterdata export``: the vendor list and the coding lists (None when not asked)."""

    connection: str
    vendors: ExportResult | None
    coding: MasterdataResult | None

    @property
    def failed(self) -> bool:
        return (self.vendors is not None and self.vendors.status == "failed") or (
            self.coding is not None and self.coding.status == "failed"
        )


def export_vendor_lists(
    app: App, connection: str | None, *, mode: Mode, dry_run: bool, actor: str
) -> list[ExportResult]:
    """The vendor list of each connection (or of the one named)."""
    return [
        asyncio.run(export_vendors(rt, app.ledger, mode=mode, dry_run=dry_run))
        for rt in app.runtimes(connection, actor=actor)
    ]


def export_lists(
    app: App, connection: str | None, lists: list[str] | None, *, mode: Mode, dry_run: bool, actor: str
) -> list[ConnectionExport]:
    """The lists asked for (default: vendors plus each connection's ``[masterdata] lists``). Raises
    ``ValueError`` before anything is written when a list cannot be built for a connection."""
    runtimes = list(app.runtimes(connection, actor=actor))
    for rt in runtimes:
        if lists and "projects" in lists and rt.config.mapping.project_segment_id is None:
            raise ValueError(f"connection {rt.name}: --list projects needs mapping.project_segment_id")
    results = []
    for rt in runtimes:
        chosen = list(lists) if lists else [VENDORS, *rt.config.masterdata.lists]
        names = ([VENDORS] if VENDORS in chosen else []) + applicable(rt, chosen)
        results.append(asyncio.run(_one(rt, app.ledger, names, mode, dry_run)))
    return results


async def _one(rt: Runtime, ledger: Ledger, names: list[str], mode: Mode, dry_run: bool) -> ConnectionExport:
    vendors: ExportResult | None = None
    if VENDORS in names:
        vendors = await export_vendors(rt, ledger, mode=mode, dry_run=dry_run)
    lists = [n for n in names if n != VENDORS]
    coding = (
        await export_masterdata(rt, ledger, modes=dict.fromkeys(lists, mode), dry_run=dry_run)
        if lists
        else None
    )
    return ConnectionExport(rt.name, vendors, coding)
