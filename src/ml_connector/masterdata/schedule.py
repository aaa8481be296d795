"""When ``serve`` and the scaled-out worker export the coding lists: per list, a full file once a
day at ``masterdata.full_at`` (local time in ``masterdata.timezone``) and a delta on every poll in
between (uploaded only when a value changed). The first export of a list is a full file. The
decision reads the ledger, so a restart neither repeats nor skips the day's full file, and a failed
full file is tried again at the next poll.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from ml_connector.ledger.masterdata_store import MasterdataStore
from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.masterdata.export import MasterdataResult, applicable, export_masterdata
from ml_connector.pipeline.runtime import Runtime
from ml_connector.vendors.export import Mode

log = logging.getLogger("ml_connector.masterdata")


def due_modes(rt: Runtime, ledger: Ledger, now: datetime) -> dict[str, Mode]:
    """List name -> the file due now; empty when the export is off or nothing is due."""
    cfg = rt.config.masterdata
    if not cfg.enabled:
        return {}
    tz = ZoneInfo(cfg.timezone)
    local = now.astimezone(tz)
    hh, mm = (int(x) for x in cfg.full_at.split(":"))
    today_at = datetime.combine(local.date(), time(hh, mm), tzinfo=tz)
    store = MasterdataStore(ledger)
    modes: dict[str, Mode] = {}
    for name in applicable(rt, cfg.lists):
        last_full = store.last_upload(rt.name, name, mode="full")
        if last_full is None or (local >= today_at and last_full["started_at"].astimezone(tz) < today_at):
            modes[name] = "full"
        elif cfg.delta:
            modes[name] = "delta"
    return modes


async def run_scheduled(rt: Runtime, ledger: Ledger, now: datetime | None = None) -> MasterdataResult | None:
    """The coding-list step of ``serve`` and the worker for one connection; never raises (a failure
    is logged and retried at the next poll)."""
    try:
        modes = due_modes(rt, ledger, now or utcnow())
        if not modes:
            return None
        return await export_masterdata(rt, ledger, modes=modes)
    except Exception:  # the invoice cycle must go on whatever happens here
        log.exception("connection %s: coding-list export failed", rt.name)
        return None
