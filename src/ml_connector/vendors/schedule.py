"""When ``serve`` exports vendors: a full file once a day at ``vendors.full_at`` (local time in
``vendors.timezone``), and a delta on every poll in between (uploaded only when an exported field
changed). The first run of a connection is a full file. The decision reads the ledger, so a
restart neither repeats nor skips the day's full file; a failed full file is tried again next poll.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.pipeline.runtime import Runtime
from ml_connector.vendors.export import ExportResult, Mode, export_vendors

log = logging.getLogger("ml_connector.vendors")


def due_mode(rt: Runtime, ledger: Ledger, now: datetime) -> Mode | None:
    cfg = rt.config.vendors
    if not cfg.enabled:
        return None
    tz = ZoneInfo(cfg.timezone)
    local = now.astimezone(tz)
    hh, mm = (int(x) for x in cfg.full_at.split(":"))
    today_at = datetime.combine(local.date(), time(hh, mm), tzinfo=tz)
    last_full = ledger.vendors.last_upload(rt.name, mode="full")
    if last_full is None:
        return "full"
    done = last_full["started_at"].astimezone(tz)
    if local >= today_at and done < today_at:
        return "full"
    return "delta" if cfg.delta else None


async def run_scheduled(rt: Runtime, ledger: Ledger, now: datetime | None = None) -> ExportResult | None:
    """The vendor step of ``serve`` for one connection; never raises (a failure is logged and retried)."""
    try:
        mode = due_mode(rt, ledger, now or utcnow())
        if mode is None:
            return None
        return await export_vendors(rt, ledger, mode=mode)
    except Exception:  # the invoice cycle must go on whatever happens here
        log.exception("connection %s: vendor export failed", rt.name)
        return None
