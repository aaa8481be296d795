"""Response and request shapes of ``/api`` (they make the OpenAPI document exact)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Problem(BaseModel):
    detail: Any


class Me(BaseModel):
    username: str
    role: str
    can_operate: bool
    csrf_token: str = Field(description="Send it as X-CSRF-Token on every POST.")


class LastRun(BaseModel):
    id: int
    connection: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    error: str | None
    stats: dict[str, int | float]


class DayCount(BaseModel):
    day: date
    posted: int
    parked: int


class Health(BaseModel):
    stampli: bool | None = Field(description="From the last cycle; null when unknown")
    visma: bool | None
    as_of: datetime | None


class CheckRow(BaseModel):
    connection: str
    side: str
    check: str
    ok: bool
    detail: str


class RateBudget(BaseModel):
    ok: bool
    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset_in_seconds: int | None = None
    detail: str | None = None


class CheckResult(BaseModel):
    at: datetime | None = None
    actor: str | None = None
    ok: bool
    rows: list[CheckRow]
    rate: RateBudget


class ConnectionOverview(BaseModel):
    connection: str
    enabled: bool
    poll_interval: int
    last_run: LastRun | None
    documents: dict[str, int]
    backlog: int
    parked: int
    reading: int = Field(
        0,
        description="Documents of files not read to their end (one that broke off, or is being read): "
        "never posted until their file is (replay), skipped if it is set aside",
    )
    posted: int
    open_failures: int
    posting_target: str = Field(description="journal | supplier_invoice (posting.target)")
    unreleased: dict[str, int] = Field(
        description="Documents created in Visma but not released, per period YYYYMM (they block its close)"
    )
    daily: list[DayCount]
    health: Health
    last_check: CheckResult | None
    rate_budget: RateBudget | None


class DocumentSummary(BaseModel):
    id: int
    connection: str
    doc_key: str
    kind: str
    status: str
    reference: str
    vendor_id: str | None
    vendor_name: str | None
    number: str | None
    document_date: date | None
    currency: str | None
    amount: str | None
    period: str | None
    batch_number: str | None
    updated_at: datetime


class SourceFile(BaseModel):
    id: int
    kind: str
    remote_path: str
    sha256: str
    size: int
    archive_path: str | None
    first_seen: datetime
    status: str


class FailureHistory(BaseModel):
    id: int
    category: str
    code: str
    reason: str
    visma_answer: str | None
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    who_can_fix: str


class AuditEntry(BaseModel):
    id: int
    at: datetime
    connection: str | None
    entity: str
    entity_key: str | None
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    actor: str
    details: dict[str, Any] | None


class DocumentDetail(DocumentSummary):
    content_hash: str
    file_id: int | None
    source: dict[str, Any]
    raw: str | None
    voucher: dict[str, Any] | None = Field(
        description="The voucher posted (or about to be), as the ledger keeps it: domain/voucher_codec.py"
    )
    attempts: int
    created_at: datetime
    source_file: SourceFile | None
    source_rows: list[int]
    source_xpath: str | None
    source_path: str | None
    failures: list[FailureHistory]
    audit: list[AuditEntry]


class Missing(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    key: str


class Failure(BaseModel):
    id: int
    connection: str
    document_id: int | None
    doc_key: str | None
    category: str
    code: str
    reason: str
    who_can_fix: str
    visma_answer: str | None
    missing: list[Missing] | None
    source: dict[str, Any] | list[Any] | None
    created_at: datetime


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(default_factory=list, max_length=10_000)
    all: bool = Field(default=False, description="Replay every open failure (ids must be empty)")

    @model_validator(mode="after")
    def one_of(self) -> ReplayRequest:
        if self.all == bool(self.ids):
            raise ValueError("give either ids or all=true")
        if any(i < 1 or i > 2**31 for i in self.ids):
            raise ValueError("failure ids are positive integers")
        return self


class CycleSummary(BaseModel):
    connection: str
    status: str
    posted: int
    parked: int
    errors: list[str]


class ReplayResponse(BaseModel):
    actor: str
    requeued: list[str]
    files_reread: list[str]
    refused: list[str]
    cycles: list[CycleSummary]


class ReconRow(BaseModel):
    doc_key: str
    outcome: str
    status: str
    reference: str
    vendor: str
    number: str
    currency: str
    amount: str
    sent_total: str
    visma_total: str
    batch_number: str
    detail: str


class Reconciliation(BaseModel):
    period: str
    totals: dict[str, int]
    documents: list[ReconRow]


class SftpSide(BaseModel):
    host: str
    port: int
    username: str
    invoices_folder: str
    payments_folder: str


class VismaSide(BaseModel):
    api_url: str
    company_id: str


class ConnectionInfo(BaseModel):
    connection: str
    enabled: bool
    poll_interval: int
    stampli_company_id: str
    sftp: SftpSide
    visma: VismaSide
    last_check: CheckResult | None


class Health200(BaseModel):
    status: str
