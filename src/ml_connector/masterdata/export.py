"""One coding-list export: read from Visma what the chosen lists need, build each list's file, upload
it atomically (``name.tmp``, then rename), and move the per-value hashes on only once the file is
visible under its final name.

    full   every value the list offers now, plus every value sent before that it no longer offers
           (as ``active=false``: a file never deletes a value)
    delta  the values whose row differs from what the last confirmed upload sent, including values
           that disappeared (as ``active=false``); no file when nothing changed

The lists are small and read whole on every export (one call each; cost centers and projects share
the SUBACCOUNT call), so a delta never depends on Visma's modification times. A Visma read that fails
fails the whole export: nothing is concluded from a partial read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ml_connector import wiring
from ml_connector.adapters.visma.models import Account, CreditTerm, Segment, VatCode
from ml_connector.errors import ConnectorError
from ml_connector.ledger.masterdata_store import MasterdataStore
from ml_connector.ledger.store import Ledger, utcnow
from ml_connector.masterdata.lists import SPECS, Catalog, ListSpec, Row, content_hash, inactive
from ml_connector.pipeline.runtime import Runtime
from ml_connector.vendors import csvfile
from ml_connector.vendors.export import Mode, Uploader

log = logging.getLogger("ml_connector.masterdata")


class CodingSource(Protocol):
    async def accounts(self, *, modified_since: datetime | None = None) -> list[Account]: ...
    async def subaccount_dimension(self) -> list[Segment]: ...
    async def vat_codes(self) -> list[VatCode]: ...
    async def credit_terms(self) -> list[CreditTerm]: ...


@dataclass
class ListResult:
    name: str  # the list (accounts, cost_centers, ...)
    mode: str
    status: str = "ok"  # ok | unchanged (delta, nothing to send) | failed
    file_name: str | None = None
    remote_path: str | None = None
    rows: int = 0  # rows in the file
    read: int = 0  # records read from Visma
    keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    content: bytes = field(default=b"", repr=False)
    sent_rows: dict[str, Row] = field(default_factory=dict, repr=False)  # key -> row in the file

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("content")
        out.pop("sent_rows")
        return out


@dataclass
class MasterdataResult:
    connection: str
    dry_run: bool = False
    status: str = "ok"  # ok | failed (any list failed, or Visma could not be read)
    error: str | None = None
    lists: list[ListResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "dry_run": self.dry_run,
            "status": self.status,
            "error": self.error,
            "lists": [r.summary() for r in self.lists],
        }


def applicable(rt: Runtime, names: tuple[str, ...] | list[str]) -> list[str]:
    """``names`` in a stable order, without ``projects`` when no project segment is mapped."""
    has_projects = rt.config.mapping.project_segment_id is not None
    return [n for n in SPECS if n in names and (n != "projects" or has_projects)]


def file_name(prefix: str, company_id: str, mode: str, at: datetime, taken: set[str]) -> str:
    """``<prefix>_<companyId>_<yyyyMMddTHHmmssZ>_<mode>.csv``; a later second when the name is taken,
    so a file Stampli has not read yet is never replaced."""
    at = at.astimezone(UTC)
    while True:
        name = f"{prefix}_{company_id}_{at:%Y%m%dT%H%M%SZ}_{mode}.csv"
        if name not in taken:
            return name
        at += timedelta(seconds=1)


async def read_catalog(visma: CodingSource, specs: list[ListSpec]) -> Catalog:
    needed = {s.source for s in specs}
    cat = Catalog()
    if "accounts" in needed:
        cat.accounts = await visma.accounts()
    if "segments" in needed:
        cat.segments = await visma.subaccount_dimension()
    if "vat_codes" in needed:
        cat.vat_codes = await visma.vat_codes()
    if "credit_terms" in needed:
        cat.credit_terms = await visma.credit_terms()
    return cat


async def export_masterdata(
    rt: Runtime,
    ledger: Ledger,
    *,
    modes: Mapping[str, Mode],
    dry_run: bool = False,
    visma: CodingSource | None = None,
    uploader: Callable[[], contextlib.AbstractAsyncContextManager[Uploader]] | None = None,
    now: datetime | None = None,
) -> MasterdataResult:
    """Export the lists in ``modes`` (list name -> full/delta) for one connection. Never raises for
    Visma or SFTP trouble: ``status`` and each list's ``status`` say."""
    result = MasterdataResult(rt.name, dry_run)
    specs = [SPECS[n] for n in applicable(rt, list(modes))]
    now = now or utcnow()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if visma is None:
                visma = await stack.enter_async_context(wiring.visma_client(rt))
            catalog = await read_catalog(visma, specs)
    except ConnectorError as exc:
        result.status = "failed"
        result.error = f"reading Visma failed, nothing exported: {exc}"
        log.error("connection %s: coding-list export: %s", rt.name, result.error)
        return result
    store = MasterdataStore(ledger)
    taken = store.file_names(rt.name)
    tz = ZoneInfo(rt.config.visma.timezone)
    for spec in specs:
        lr = _build(rt, store, spec, modes[spec.name], catalog, tz, now, taken)
        result.lists.append(lr)
    if not dry_run:
        await _upload(rt, store, [r for r in result.lists if r.status == "ok"], uploader)
    if any(r.status == "failed" for r in result.lists):
        result.status = "failed"
    return result


def _build(
    rt: Runtime,
    store: MasterdataStore,
    spec: ListSpec,
    mode: Mode,
    catalog: Catalog,
    tz: ZoneInfo,
    now: datetime,
    taken: set[str],
) -> ListResult:
    built = spec.build(catalog, rt.config.mapping, tz, now, rt.config.posting.target)
    lr = ListResult(spec.name, mode, read=built.read, notes=built.notes)
    rows: dict[str, Row] = dict(built.rows)
    sent = store.exported(rt.name, spec.name)
    for key, st in sent.items():
        if key not in rows:
            rows[key] = inactive(spec, st["exported_row"])  # gone from Visma or the mapping
    if mode == "delta":
        rows = {
            k: r
            for k, r in rows.items()
            if k not in sent or sent[k]["exported_hash"] != content_hash(spec, r)
        }
    lr.keys = sorted(rows)
    lr.rows = len(rows)
    lr.sent_rows = rows
    if mode == "delta" and not rows:
        lr.status = "unchanged"
        return lr
    lr.content = csvfile.render_table(spec.columns, rows.values(), key=spec.key, bom=rt.config.masterdata.bom)
    lr.file_name = file_name(spec.prefix, rt.config.stampli_company_id, mode, now, taken)
    taken.add(lr.file_name)
    return lr


async def _upload(
    rt: Runtime,
    store: MasterdataStore,
    files: list[ListResult],
    uploader: Callable[[], contextlib.AbstractAsyncContextManager[Uploader]] | None,
) -> None:
    """Record every intent first, then upload the files over one SFTP session."""
    if not files:
        return
    pending = {
        lr.name: store.begin_upload(
            rt.name,
            lr.name,
            mode=lr.mode,
            file_name=lr.file_name or "",
            rows=lr.rows,
            size=len(lr.content),
            sha256=hashlib.sha256(lr.content).hexdigest(),
            actor=rt.actor,
        )
        for lr in files
    }
    folder = rt.config.masterdata.folder
    try:
        async with (uploader or functools.partial(wiring.sftp_source, rt))() as src:
            for lr in files:
                try:
                    lr.remote_path = await src.upload_atomic(lr.content, folder, lr.file_name or "")
                except (ConnectorError, OSError) as exc:
                    _failed(rt, store, pending.pop(lr.name), lr, exc)
                    continue
                spec = SPECS[lr.name]
                store.confirm_upload(
                    pending.pop(lr.name),
                    remote_path=lr.remote_path,
                    rows={k: (content_hash(spec, r), r) for k, r in lr.sent_rows.items()},
                    actor=rt.actor,
                )
                log.info("connection %s: %d %s value(s) uploaded", rt.name, lr.rows, lr.name)
    except (ConnectorError, OSError) as exc:  # the session itself failed: every file not yet sent
        for lr in files:
            if lr.name in pending:
                _failed(rt, store, pending.pop(lr.name), lr, exc)


def _failed(rt: Runtime, store: MasterdataStore, upload_id: int, lr: ListResult, exc: BaseException) -> None:
    store.fail_upload(upload_id, error=str(exc), actor=rt.actor)
    lr.status = "failed"
    lr.error = f"upload of {lr.file_name} failed: {exc}"
    lr.remote_path = None
    log.error("connection %s: %s", rt.name, lr.error)
