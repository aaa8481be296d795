"""What the dashboard shows, as plain data: documents, failures, per-day counts, overview,
connection checks. The JSON API and the HTML pages both read these."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ml_connector import wiring
from ml_connector.errors import (
    ConnectorError,
    DestinationError,
)
from ml_connector.pipeline.rules import Category
from ml_connector.redaction import redact_value as _redacted
from ml_connector.service.app import App
from ml_connector.service.operations import check, failures
from ml_connector.service.unreleased import unreleased_by_period


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
        {**a.as_dict(), "reason": _redacted(a.reason) if a.reason else None}
        for a in app.ledger.audit_trail("document", str(doc["doc_key"]))
    ]
    return out


def failure_list(app: App, connection: str | None = None) -> list[dict[str, Any]]:
    """``failures`` plus the document id of each (for links) and redacted free text."""
    doc_ids = {f.id: f.document_id for f in app.ledger.open_failures(connection)}
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
                "reading": counts.get(DocStatus.READING, 0),
                "posted": counts.get(DocStatus.POSTED, 0),
                "open_failures": len(app.ledger.open_failures(c.name)),
                "posting_target": c.posting.target,
                "unreleased": unreleased_by_period(app.ledger, c.name),
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
        async with wiring.visma_client(rt) as visma:
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
