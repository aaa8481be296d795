"""One vendor export: read Visma's suppliers, build the §4.6 file, upload it atomically, and move the
per-vendor hashes on only once the file is visible under its final name.

    full   every supplier Visma lists, plus every vendor sent before that Visma no longer lists
           (as active=false: a file never deletes a vendor)
    delta  the vendors whose exported fields differ from what the last confirmed upload sent;
           Visma is asked only for suppliers modified since the newest lastModifiedDateTime of
           the last confirmed upload (minus a safety overlap), and nothing is uploaded when no
           exported field changed

Bank drift is detected on every read (not on dry runs): an IBAN or account number that differs from
the one last seen is recorded in vendor_bank_changes and the audit trail.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from ml_connector import wiring
from ml_connector.adapters.visma.models import Supplier
from ml_connector.errors import ConnectorError
from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.ledger.vendor_store import BankChange, ExportedRow, VendorStore
from ml_connector.pipeline.runtime import Runtime
from ml_connector.vendors import csvfile
from ml_connector.vendors.mapping import (
    as_utc,
    bank_hash,
    bank_masked,
    content_hash,
    inactive,
    vendor_row,
)

log = logging.getLogger("ml_connector.vendors")

Mode = Literal["full", "delta"]
OVERLAP = timedelta(minutes=10)  # re-read this much before the mark: hashes drop what did not change


class SupplierSource(Protocol):
    async def suppliers(self, *, modified_since: datetime | None = None) -> list[Supplier]: ...


class Uploader(Protocol):
    async def upload_atomic(self, data: bytes, folder: str, name: str) -> str: ...


@dataclass
class ExportResult:
    connection: str
    mode: str
    dry_run: bool = False
    status: str = "ok"  # ok | unchanged (delta with nothing to send) | failed
    file_name: str | None = None
    remote_path: str | None = None
    vendors_exported: int = 0  # rows in the file
    suppliers_read: int = 0
    vendor_ids: list[str] = field(default_factory=list)
    bank_changes: list[str] = field(default_factory=list)  # vendor ids
    error: str | None = None
    content: bytes = field(default=b"", repr=False)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("content")
        return out


def file_name(company_id: str, mode: str, at: datetime, taken: set[str]) -> str:
    """``vendors_<companyId>_<yyyyMMddTHHmmssZ>_<mode>.csv``; a later second when the name is taken,
    so a file Stampli has not read yet is never replaced."""
    at = at.astimezone(UTC)
    while True:
        name = f"vendors_{company_id}_{at:%Y%m%dT%H%M%SZ}_{mode}.csv"
        if name not in taken:
            return name
        at += timedelta(seconds=1)


async def export_vendors(
    rt: Runtime,
    ledger: Ledger,
    *,
    mode: Mode,
    dry_run: bool = False,
    visma: SupplierSource | None = None,
    uploader: Callable[[], contextlib.AbstractAsyncContextManager[Uploader]] | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Export one connection's vendors. Never raises for Visma or SFTP trouble: ``status`` says."""
    result = ExportResult(rt.name, mode, dry_run)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if visma is None:
                visma = await stack.enter_async_context(wiring.visma_client(rt))
            await _export(rt, ledger.vendors, visma, uploader, result, now or utcnow())
    except ConnectorError as exc:
        result.status = "failed"
        result.error = str(exc)
        log.error("connection %s: vendor export failed: %s", rt.name, exc)
    return result


async def _export(
    rt: Runtime,
    store: VendorStore,
    visma: SupplierSource,
    uploader: Callable[[], contextlib.AbstractAsyncContextManager[Uploader]] | None,
    result: ExportResult,
    now: datetime,
) -> None:
    cfg = rt.config
    last = store.last_upload(rt.name)
    prev_mark = last["visma_mark"] if last is not None else None
    since = None if result.mode == "full" or prev_mark is None else prev_mark - OVERLAP
    suppliers = [s for s in await visma.suppliers(modified_since=since) if s.number]
    result.suppliers_read = len(suppliers)
    # The client hands out aware UTC times already; tz only reads a naive one built elsewhere.
    tz = ZoneInfo(cfg.visma.timezone)
    rows = {s.number: vendor_row(s, tz) for s in suppliers}
    changed_at = {s.number: as_utc(s.last_modified, tz) for s in suppliers}
    stamps = [t for t in changed_at.values() if t is not None]
    mark = max([*stamps, *([prev_mark] if prev_mark and result.mode == "delta" else [])], default=prev_mark)
    states = store.states(rt.name)

    _drift(rt, store, rows, changed_at, states, result, now)

    if result.mode == "full":
        out = dict(rows)
        for vid, st in states.items():
            if vid not in out and st["exported_row"]:
                out[vid] = inactive(st["exported_row"])
    else:
        out = {
            vid: row
            for vid, row in rows.items()
            if states.get(vid) is None or states[vid]["exported_hash"] != content_hash(row)
        }
    result.vendor_ids = sorted(out)
    result.vendors_exported = len(out)
    if result.mode == "delta" and not out:
        result.status = "unchanged"
        return
    data = csvfile.render(out.values(), bom=cfg.vendors.bom)
    result.content = data
    result.file_name = file_name(cfg.stampli_company_id, result.mode, now, store.file_names(rt.name))
    if result.dry_run:
        return
    upload_id = store.begin_upload(
        rt.name,
        mode=result.mode,
        file_name=result.file_name,
        vendors=len(out),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        visma_mark=mark,
        actor=rt.actor,
    )
    folder = cfg.sftp.vendors_folder
    try:
        async with (uploader or functools.partial(wiring.sftp_source, rt))() as src:
            remote = await src.upload_atomic(data, folder, result.file_name)
    except (ConnectorError, OSError) as exc:
        store.fail_upload(upload_id, error=str(exc), actor=rt.actor)
        result.status = "failed"
        result.error = f"upload of {result.file_name} failed: {exc}"
        log.error("connection %s: %s", rt.name, result.error)
        return
    store.confirm_upload(
        upload_id,
        remote_path=remote,
        rows=[ExportedRow(vid, content_hash(row), row) for vid, row in out.items()],
        actor=rt.actor,
    )
    result.remote_path = remote
    log.info("connection %s: %d vendor(s) uploaded to %s", rt.name, len(out), remote)


def _drift(
    rt: Runtime,
    store: VendorStore,
    rows: dict[str, dict[str, str]],
    changed_at: dict[str, datetime | None],
    states: dict[str, Any],
    result: ExportResult,
    now: datetime,
) -> None:
    baselines: dict[str, tuple[str, dict[str, str]]] = {}
    for vid, row in sorted(rows.items()):
        fp = bank_hash(row)
        st = states.get(vid)
        if st is None or st["bank_hash"] is None:
            baselines[vid] = (fp, bank_masked(row))
            continue
        if st["bank_hash"] == fp:
            continue
        result.bank_changes.append(vid)
        if result.dry_run:
            continue
        store.record_bank_change(
            rt.name,
            BankChange(
                vendor_id=vid,
                changed_at=changed_at.get(vid) or now,
                old=st["bank_masked"],
                new=bank_masked(row),
                bank_hash=fp,
            ),
            actor=rt.actor,
        )
        log.warning("connection %s: supplier %s changed its bank account in Visma", rt.name, vid)
    if not result.dry_run:
        store.set_bank_baselines(rt.name, baselines)
