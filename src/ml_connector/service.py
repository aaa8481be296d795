"""The operations behind every entry point (CLI now, dashboard later): no business logic elsewhere.

``open_app`` loads the configuration and the ledger once; the functions below act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector.config.loader import config_resolver, load_config
from ml_connector.config.model import AppConfig
from ml_connector.config.secrets import SecretRef, SecretResolver
from ml_connector.domain.documents import Invoice
from ml_connector.errors import (
    ConfigError,
    ConnectorError,
    DestinationError,
    HostKeyMismatchError,
    SourceError,
)
from ml_connector.ledger.store import Ledger
from ml_connector.logs import remember_secret
from ml_connector.pipeline.cycle import CycleResult, audit_host_key_mismatch, run_cycle
from ml_connector.pipeline.intake import document_values
from ml_connector.pipeline.journal import MappingProblem
from ml_connector.pipeline.posting import PeriodProblem, build_voucher
from ml_connector.pipeline.reconcile import ReconRow, reconcile
from ml_connector.pipeline.refresh import snapshot
from ml_connector.pipeline.replay import ReplayResult, replay
from ml_connector.pipeline.rules import Category, check_voucher
from ml_connector.pipeline.runtime import Runtime
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.stampli.read import read_export
from ml_connector.vendors.schedule import run_scheduled


class RememberingResolver:
    """Resolves secrets and registers each value with the log redactor on the way out."""

    def __init__(self, inner: SecretResolver) -> None:
        self.inner = inner

    def resolve(self, ref: SecretRef) -> str:
        value = self.inner.resolve(ref)
        remember_secret(value)
        return value


@dataclass
class App:
    config: AppConfig
    ledger: Ledger
    resolver: SecretResolver
    runtime_options: dict[str, Any] = field(default_factory=dict)

    def runtime(self, name: str, *, actor: str = "system") -> Runtime:
        try:
            cfg = self.config.connection(name)
        except KeyError:
            names = ", ".join(c.name for c in self.config.connections) or "(none)"
            raise ConfigError(f"no connection named {name!r}; configured: {names}") from None
        archive = self.config.path.parent / "archive" / cfg.name
        archive.mkdir(parents=True, exist_ok=True)
        return Runtime(
            config=cfg,
            ledger=self.ledger,
            archive_dir=archive,
            resolver=self.resolver,
            actor=actor,
            **self.runtime_options,
        )

    def runtimes(self, only: str | None = None, *, actor: str = "system") -> list[Runtime]:
        if only is not None:
            return [self.runtime(only, actor=actor)]
        return [self.runtime(c.name, actor=actor) for c in self.config.enabled_connections]

    def close(self) -> None:
        self.ledger.close()


SETTLE_AFTER_ENV = "ML_CONNECTOR_SETTLE_AFTER"


def settle_after_from_env(environ: Mapping[str, str]) -> timedelta | None:
    """``ML_CONNECTOR_SETTLE_AFTER`` (seconds, >= 0): how long an unknown outcome waits before its
    lookup in Visma (``Runtime.settle_after``, 60 s when unset). The crash and fault tests set 0."""
    text = environ.get(SETTLE_AFTER_ENV, "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise ConfigError(f"{SETTLE_AFTER_ENV} must be a number of seconds between 0 and 86400")
    return timedelta(seconds=seconds)


def profile_problems(name: str, table: Mapping[str, Any]) -> list[str]:
    """Every problem of a ``[profiles.NAME]`` table, so they are reported with the others."""
    try:
        ReaderProfile.from_mapping(table, name=name)
    except ValueError as exc:
        found = exc.args[0] if exc.args else str(exc)
        return [str(p) for p in found] if isinstance(found, list) else [str(found)]
    return []


def open_app(config_path: Path, *, environ: Mapping[str, str] | None = None, **runtime_options: Any) -> App:
    env = os.environ if environ is None else environ
    # env: and, with a [vault] table, vault: references; [profiles.*] tables checked at load too
    config = load_config(config_path, environ=env, profile_validator=profile_problems)
    resolver = RememberingResolver(config_resolver(config, env))
    if "settle_after" not in runtime_options:
        settle_after = settle_after_from_env(env)
        if settle_after is not None:
            runtime_options["settle_after"] = settle_after
    return App(config, Ledger.open(config.ledger_url), resolver, dict(runtime_options))


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


def _redacted(text: object) -> str:
    from ml_connector.logs import redact

    return redact(str(text)) if text is not None else ""


def search_documents(
    app: App,
    query: str = "",
    *,
    connection: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Documents whose vendor (id or name), invoice/payment number, Stampli id (the key) or Visma
    reference contains ``query`` (case-insensitive), newest first."""
    import sqlalchemy as sa

    from ml_connector.ledger.schema import documents

    cols = [
        documents.c.id,
        documents.c.connection,
        documents.c.doc_key,
        documents.c.kind,
        documents.c.status,
        documents.c.reference,
        documents.c.vendor_id,
        documents.c.vendor_name,
        documents.c.number,
        documents.c.document_date,
        documents.c.currency,
        documents.c.amount,
        documents.c.period,
        documents.c.batch_number,
        documents.c.updated_at,
    ]
    q = sa.select(*cols)
    text = query.strip()
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(
            sa.or_(
                *(
                    c.ilike(like, escape="\\")
                    for c in (
                        documents.c.vendor_id,
                        documents.c.vendor_name,
                        documents.c.number,
                        documents.c.doc_key,
                        documents.c.reference,
                    )
                )
            )
        )
    if connection:
        q = q.where(documents.c.connection == connection)
    if status:
        q = q.where(documents.c.status == status)
    q = q.order_by(documents.c.id.desc()).limit(max(1, min(limit, 1000)))
    with app.ledger.tx() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def document_detail(app: App, doc_id: int) -> dict[str, Any] | None:
    """One document: what it is, the file and rows it came from, the exact voucher sent to Visma,
    its batch number, every failure it had and its audit trail."""
    import sqlalchemy as sa

    from ml_connector.ledger.schema import documents, failures, files

    with app.ledger.tx() as conn:
        doc = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().first()
        if doc is None:
            return None
        file_row = None
        if doc["file_id"] is not None:
            file_row = (
                conn.execute(
                    sa.select(
                        files.c.id,
                        files.c.kind,
                        files.c.remote_path,
                        files.c.sha256,
                        files.c.size,
                        files.c.archive_path,
                        files.c.first_seen,
                        files.c.status,
                    ).where(files.c.id == doc["file_id"])
                )
                .mappings()
                .first()
            )
        fails = list(
            conn.execute(
                sa.select(
                    failures.c.id,
                    failures.c.category,
                    failures.c.code,
                    failures.c.reason,
                    failures.c.visma_answer,
                    failures.c.status,
                    failures.c.created_at,
                    failures.c.resolved_at,
                    failures.c.resolved_by,
                )
                .where(failures.c.document_id == doc_id)
                .order_by(failures.c.id)
            ).mappings()
        )
    out = {k: doc[k] for k in doc if k not in ("claimed_by", "claim_expires", "etag")}
    source: dict[str, Any] = doc["source"] if isinstance(doc["source"], dict) else {}
    prov: dict[str, Any] = source["provenance"] if isinstance(source.get("provenance"), dict) else {}
    out["source_file"] = dict(file_row) if file_row is not None else None
    out["source_rows"] = list(prov.get("rows") or [])
    out["source_xpath"] = prov.get("xpath")
    out["source_path"] = prov.get("remotePath") or (file_row["remote_path"] if file_row else None)
    out["failures"] = [
        {
            **dict(f),
            "reason": _redacted(f["reason"]),
            "visma_answer": _redacted(f["visma_answer"]) if f["visma_answer"] else None,
            "who_can_fix": Category.WHO.get(str(f["category"]), ""),
        }
        for f in fails
    ]
    out["audit"] = [
        {**dict(a), "reason": _redacted(a["reason"]) if a["reason"] else None}
        for a in app.ledger.audit_trail("document", str(doc["doc_key"]))
    ]
    return out


def failure_list(app: App, connection: str | None = None) -> list[dict[str, Any]]:
    """``failures`` plus the document id of each (for links) and redacted free text."""
    doc_ids = {int(f["id"]): f["document_id"] for f in app.ledger.open_failures(connection)}
    rows = failures(app, connection)
    for r in rows:
        r["document_id"] = doc_ids.get(int(r["id"]))
        r["reason"] = _redacted(r["reason"])
        r["visma_answer"] = _redacted(r["visma_answer"]) if r["visma_answer"] else None
    return rows


def daily_counts(app: App, connection: str, days: int = 14) -> list[dict[str, Any]]:
    """Documents posted and parked per UTC day over the last ``days`` days (oldest first)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from ml_connector.ledger.schema import audit

    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    seen: dict[str, dict[str, set[str]]] = {
        (first + timedelta(days=i)).isoformat(): {"posted": set(), "parked": set()} for i in range(days)
    }
    q = sa.select(audit.c.at, audit.c.to_status, audit.c.entity_key).where(
        audit.c.entity == "document",
        audit.c.connection == connection,
        audit.c.to_status.in_(("posted", "parked")),
        audit.c.at >= since,
    )
    with app.ledger.tx() as conn:
        for at, to_status, key in conn.execute(q):
            day = at.astimezone(UTC).date().isoformat()
            if day in seen:
                seen[day][str(to_status)].add(str(key))
    return [{"day": d, "posted": len(v["posted"]), "parked": len(v["parked"])} for d, v in seen.items()]


def last_check(app: App, connection: str) -> dict[str, Any] | None:
    """The most recent ``run_checks`` result of a connection (from the audit trail)."""
    import sqlalchemy as sa

    from ml_connector.ledger.schema import audit

    q = (
        sa.select(audit.c.at, audit.c.actor, audit.c.details)
        .where(audit.c.entity == "connection", audit.c.entity_key == connection, audit.c.action == "checked")
        .order_by(audit.c.id.desc())
        .limit(1)
    )
    with app.ledger.tx() as conn:
        row = conn.execute(q).mappings().first()
    if row is None:
        return None
    details = row["details"] if isinstance(row["details"], dict) else {}
    return {"at": row["at"], "actor": row["actor"], **details}


def _health_from_run(run: Mapping[str, Any] | None) -> dict[str, Any]:
    if run is None:
        return {"stampli": None, "visma": None, "as_of": None}
    error = str(run.get("error") or "")
    stampli_bad = "sftp" in error.lower()
    visma_bad = (run.get("status") == "failed" and not stampli_bad) or "visma" in error.lower()
    return {
        "stampli": None if run.get("status") == "running" else not stampli_bad,
        "visma": None if run.get("status") == "running" else not visma_bad,
        "as_of": run.get("finished_at") or run.get("started_at"),
    }


def overview(app: App, days: int = 14) -> list[dict[str, Any]]:
    """Per connection: the last cycle and its result, backlog, posted/parked per day, the Visma rate
    budget and the health of both sides (from the last cycle and the last check)."""
    from ml_connector.ledger.store import DocStatus

    out = []
    for c in app.config.connections:
        runs = app.ledger.last_runs(c.name, limit=1)
        run = dict(runs[0]) if runs else None
        if run is not None:
            run["error"] = _redacted(run["error"]) if run.get("error") else None
            stats: dict[str, Any] = run["stats"] if isinstance(run.get("stats"), dict) else {}
            run["stats"] = {k: v for k, v in stats.items() if isinstance(v, int | float) and k != "seconds"}
        counts = app.ledger.status_counts(c.name)
        checked = last_check(app, c.name)
        out.append(
            {
                "connection": c.name,
                "enabled": c.enabled,
                "poll_interval": c.poll_interval,
                "last_run": run,
                "documents": counts,
                "backlog": sum(counts.get(s, 0) for s in DocStatus.OPEN),
                "parked": counts.get(DocStatus.PARKED, 0),
                "posted": counts.get(DocStatus.POSTED, 0),
                "open_failures": len(app.ledger.open_failures(c.name)),
                "daily": daily_counts(app, c.name, days),
                "health": _health_from_run(run),
                "last_check": checked,
                "rate_budget": (checked or {}).get("rate"),
            }
        )
    return out


async def rate_budget(app: App, connection: str) -> dict[str, Any]:
    """Visma's rate-limit window as reported on one light read (the currency list)."""
    import time

    rt = app.runtime(connection)
    try:
        async with rt.visma() as visma:
            await visma.currencies()
            state = visma.rate_state
    except (DestinationError, ConnectorError) as exc:
        return {"ok": False, "detail": _redacted(exc)}
    used = None
    if state.limit is not None and state.remaining is not None:
        used = max(state.limit - state.remaining, 0)
    reset_in = state.reset_in(time.time())
    return {
        "ok": True,
        "limit": state.limit,
        "remaining": state.remaining,
        "used": used,
        "reset_in_seconds": round(reset_in) if reset_in is not None else None,
    }


async def run_checks(app: App, connection: str | None = None, *, actor: str) -> dict[str, dict[str, Any]]:
    """``check`` of both sides plus the Visma rate budget, per connection; each result is recorded
    in the audit trail (entity ``connection``, action ``checked``) with who asked."""
    out: dict[str, dict[str, Any]] = {}
    for rt in app.runtimes(connection):
        rows = await check(app, rt.name)
        budget = await rate_budget(app, rt.name)
        result = {
            "ok": bool(rows) and all(r.ok for r in rows),
            "rows": [{**r.__dict__, "detail": _redacted(r.detail)} for r in rows],
            "rate": budget,
        }
        with app.ledger.tx() as conn:
            app.ledger.audit(
                conn,
                connection=rt.name,
                entity="connection",
                key=rt.name,
                action="checked",
                actor=actor,
                reason="both sides ok" if result["ok"] else "a check failed",
                details=result,
            )
        out[rt.name] = result
    return out


def connections(app: App) -> list[dict[str, Any]]:
    """What each connection talks to (never a secret: only where the secret is referenced) and its
    last check."""
    out = []
    for c in app.config.connections:
        out.append(
            {
                "connection": c.name,
                "enabled": c.enabled,
                "poll_interval": c.poll_interval,
                "stampli_company_id": c.stampli_company_id,
                "sftp": {
                    "host": c.sftp.host,
                    "port": c.sftp.port,
                    "username": c.sftp.username,
                    "invoices_folder": c.sftp.invoices_folder,
                    "payments_folder": c.sftp.payments_folder,
                },
                "visma": {"api_url": c.visma.api_url, "company_id": c.visma.company_id},
                "last_check": last_check(app, c.name),
            }
        )
    return out
