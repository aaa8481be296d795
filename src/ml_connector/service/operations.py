"""The operations the CLI and the dashboard offer: run, status, failures, replay, preview,
reconcile, check, serve. They only orchestrate the pipeline; no entry point holds business logic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_connector.domain.documents import Invoice
from ml_connector.errors import (
    ConnectorError,
    DestinationError,
    HostKeyMismatchError,
    SourceError,
)
from ml_connector.pipeline.cycle import CycleResult, audit_host_key_mismatch, run_cycle
from ml_connector.pipeline.intake import document_values
from ml_connector.pipeline.journal import MappingProblem
from ml_connector.pipeline.posting import PeriodProblem, build_voucher
from ml_connector.pipeline.reconcile import ReconRow, reconcile
from ml_connector.pipeline.refresh import snapshot
from ml_connector.pipeline.replay import ReplayResult, replay
from ml_connector.pipeline.rules import Category, check_voucher
from ml_connector.pipeline.runtime import Runtime
from ml_connector.service.app import App
from ml_connector.stampli.read import read_export
from ml_connector.vendors.schedule import run_scheduled


async def run_once(app: App, connection: str | None = None) -> list[CycleResult]:
    """One cycle per connection; one failing connection never stops the others."""
    results = await asyncio.gather(
        *(run_cycle(rt) for rt in app.runtimes(connection)), return_exceptions=True
    )
    out: list[CycleResult] = []
    for rt, res in zip(app.runtimes(connection), results, strict=True):
        if isinstance(res, BaseException):
            failed = CycleResult(rt.name, status="failed")
            failed.errors.append(f"{type(res).__name__}: {res}")
            out.append(failed)
        else:
            out.append(res)
    return out


def status(app: App) -> list[dict[str, Any]]:
    out = []
    for c in app.config.connections:
        runs = app.ledger.last_runs(c.name, limit=1)
        out.append(
            {
                "connection": c.name,
                "enabled": c.enabled,
                "documents": app.ledger.status_counts(c.name),
                "open_failures": len(app.ledger.open_failures(c.name)),
                "last_run": dict(runs[0]) if runs else None,
            }
        )
    return out


def failures(app: App, connection: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for f in app.ledger.open_failures(connection):
        item = {
            k: f[k]
            for k in (
                "id",
                "connection",
                "doc_key",
                "category",
                "code",
                "reason",
                "visma_answer",
                "created_at",
            )
        }
        item["who_can_fix"] = Category.WHO.get(str(f["category"]), "")
        item["missing"] = f["missing"]
        item["source"] = f["source"]
        rows.append(item)
    return rows


async def replay_failures(
    app: App, ids: list[int] | None, *, actor: str, connection: str | None = None, post: bool = True
) -> tuple[ReplayResult, list[CycleResult]]:
    """Requeue failures from the stored records, then post them right away (no new download)."""
    total = ReplayResult()
    open_ids = {int(f["id"]) for f in app.ledger.open_failures(connection)}
    for rt in app.runtimes(connection, actor=actor):
        mine = None if ids is None else [i for i in ids if i in open_ids]
        res = replay(rt, mine, actor=actor)
        total.requeued += res.requeued
        total.files_reread += res.files_reread
        total.refused += [r for r in res.refused if "no open failure with this id" not in r]
    for fid in ids or []:
        if fid not in open_ids:
            total.refused.append(f"{fid}: no open failure with this id")
    cycles: list[CycleResult] = []
    if post and (total.requeued or total.files_reread):
        for rt in app.runtimes(connection, actor=actor):
            cycles.append(await run_cycle(rt, intake_files=False))
    return total, cycles


def preview(app: App, path: Path, connection: str | None = None) -> dict[str, Any]:
    """The exact payloads that would be sent for a local file, validated against the cached
    master data. Writes nothing."""
    from ml_connector.adapters.visma.wire import journal_dto

    rt = app.runtimes(connection)[0]
    result = read_export(path, remote_path=str(path), profile=rt.profile())
    md = snapshot(rt.ledger, rt.name, rt.config.visma.company_id)
    docs = []
    for doc in result.documents:
        values = document_values(doc, None)
        row = {**values, "connection": rt.name, "id": 0, "status": "preview"}
        entry: dict[str, Any] = {"key": values["doc_key"], "reference": values["reference"]}
        try:
            voucher, supplier = build_voucher(row, md, rt.config)  # type: ignore[arg-type]
            entry["payload"] = journal_dto(voucher)
            problems = check_voucher(voucher, md, rt.config.mapping, supplier=supplier) if md.accounts else []
            entry["problems"] = [p.reason for p in problems]
            if not md.accounts:
                entry["problems"] = ["master data not cached yet: run `ml-connector run` or `check` first"]
        except (MappingProblem, PeriodProblem) as exc:
            entry["problems"] = [str(exc)]
        docs.append(entry)
    return {
        "file": str(path),
        "kind": result.kind,
        "status": result.status,
        "invoices": sum(isinstance(d, Invoice) for d in result.documents),
        "documents": docs,
        "issues": [i.as_dict() for i in result.issues],
    }


async def reconcile_period(app: App, period: str, connection: str | None = None) -> dict[str, list[ReconRow]]:
    out: dict[str, list[ReconRow]] = {}
    for rt in app.runtimes(connection):
        async with rt.visma() as visma:
            out[rt.name] = await reconcile(rt, visma, period)
    return out


@dataclass
class CheckRow:
    connection: str
    side: str
    check: str
    ok: bool
    detail: str


async def check(app: App, connection: str | None = None) -> list[CheckRow]:
    rows: list[CheckRow] = []
    for rt in app.runtimes(connection):
        name = rt.name
        try:
            async with rt.sftp() as src:
                info = await src.ping(rt.config.sftp.invoices_folder)
            rows.append(
                CheckRow(name, "stampli", "sftp login + pinned host key", True, str(info.get("host_key", "")))
            )
            rows.append(
                CheckRow(
                    name,
                    "stampli",
                    f"list {rt.config.sftp.invoices_folder}",
                    True,
                    f"{info.get('entries', '?')} entries",
                )
            )
        except (SourceError, ConnectorError, OSError) as exc:
            if isinstance(exc, HostKeyMismatchError):
                audit_host_key_mismatch(rt, exc)
            rows.append(CheckRow(name, "stampli", "sftp", False, str(exc)))
        try:
            async with rt.visma() as visma:
                accounts = await visma.accounts()
            rows.append(
                CheckRow(
                    name, "visma", "token + ipp-company-id", True, f"company {rt.config.visma.company_id}"
                )
            )
            credit = rt.config.mapping.credit_account
            match = [a for a in accounts if a.number == credit]
            ok = bool(match) and match[0].active is not False and match[0].allow_manual_entry is not False
            rows.append(
                CheckRow(
                    name,
                    "visma",
                    f"credit account {credit}",
                    ok,
                    "exists and allows manual entry" if ok else "missing, inactive or no manual entry",
                )
            )
        except (DestinationError, ConnectorError) as exc:
            rows.append(CheckRow(name, "visma", "api", False, str(exc)))
    return rows


async def serve(app: App, *, stop: asyncio.Event | None = None) -> None:
    """Every connection on its own interval until SIGINT/SIGTERM; a running cycle finishes first."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def loop_for(rt: Runtime) -> None:
        while not stop.is_set():
            await run_scheduled(rt)  # vendors first: Stampli codes against the current suppliers
            await run_cycle(rt)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rt.config.poll_interval)

    await asyncio.gather(*(loop_for(rt) for rt in app.runtimes()))


# ---- dashboard queries (issue 7): the web pages, /api and the CLI call these -------------------
