"""One cycle of one connection: finish pending work, then take in new files, then post.

    run_cycle(rt):
      1. refresh the cached Visma master data (incremental; no per-invoice calls)
      2. settle what earlier runs left open (claims of dead processes, unknown outcomes, releases)
      3. replay parked documents whose missing master data now exists
      4. process files downloaded before a crash, then download and read new files (the SFTP login
         and folder listings run alongside steps 1-3: pipeline.listing)
      5. learn from Visma which pending references are already booked (bulk listings; for supplier
         invoices one read per supplier: pipeline/supplier_booked.py): adopt those, never send
         them; park another channel's supplier invoice; then validate and post every other pending
         document

The CLI's ``run``, ``serve``'s schedule, ``replay`` and the demo all call this one function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from ml_connector.domain.money import money_context
from ml_connector.errors import ConnectorError, FatalDestinationError, HostKeyMismatchError, SourceError
from ml_connector.logs import log_context
from ml_connector.pipeline.booked import LookupIncomplete, adopt_booked
from ml_connector.pipeline.identity import ensure_identity
from ml_connector.pipeline.intake import IntakeStats, intake, resume_downloaded_files
from ml_connector.pipeline.listing import EarlyListing
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import VismaPort
from ml_connector.pipeline.posting import PostingStats, auto_replay, post_pending, settle
from ml_connector.pipeline.refresh import refresh
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.supplier_booked import adopt_or_hold, settle_supplier_ledger
from ml_connector.pipeline.supplier_payment_booked import adopt_payments, settle_supplier_payments

log = logging.getLogger("ml_connector.cycle")

# Step 5 of a cycle: post what is pending. The scaled-out workers pass one that spreads the pending
# documents over the workers as jobs instead (ml_connector.scale.tasks); the claims stay the same.
PostStep = Callable[[Runtime, VismaPort, MasterData, PostingStats], Awaitable[None]]


@dataclass
class CycleResult:
    connection: str
    status: str = "ok"  # ok | partial (one side failed, the other went on) | failed
    intake: IntakeStats = field(default_factory=IntakeStats)
    posting: PostingStats = field(default_factory=PostingStats)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        out = {"connection": self.connection, "status": self.status, "seconds": round(self.seconds, 3)}
        out.update({k: v for k, v in asdict(self.intake).items() if k != "issues"})
        out.update({k: v for k, v in asdict(self.posting).items() if k != "posted_keys"})
        out["errors"] = list(self.errors)
        return out


def audit_host_key_mismatch(rt: Runtime, exc: HostKeyMismatchError) -> None:
    """A server that presents another host key than the pinned one is a security event: record it."""
    rt.ledger.record_event(
        connection=rt.name,
        entity="connection",
        key=rt.name,
        action="sftp_host_key_mismatch",
        actor=rt.actor,
        reason=str(exc),
        details={"endpoint": str(exc.context.get("endpoint", ""))},
    )


async def run_cycle(rt: Runtime, *, intake_files: bool = True, post: PostStep | None = None) -> CycleResult:
    result = CycleResult(rt.name)
    started = time.monotonic()
    run_id = rt.ledger.start_run(rt.name)
    # Every amount of the cycle is computed under the trapping decimal context (floats refused).
    with log_context(connection=rt.name, run_id=run_id), money_context():
        return await _cycle(rt, result, started, run_id, intake_files, post or post_pending)


async def _cycle(
    rt: Runtime, result: CycleResult, started: float, run_id: int, intake_files: bool, post: PostStep
) -> CycleResult:
    early: EarlyListing | None = None
    try:
        ensure_identity(rt)  # never post with a ledger whose history belongs to another company
        early = EarlyListing(rt) if intake_files else None
        async with rt.visma() as visma, early or nullcontext():
            # The Stampli side logs in and lists its folders meanwhile (pipeline.listing).
            md: MasterData = await refresh(visma.masterdata, rt.ledger, rt.name, rt.config.visma.company_id)
            await settle(rt, visma, result.posting)
            await settle_supplier_ledger(rt, visma, result.posting)
            await settle_supplier_payments(rt, visma, result.posting)
            auto_replay(rt, md, result.posting)
            resume_downloaded_files(rt, result.intake)
            if early is not None:
                try:
                    async with early.source() as (source, listed):
                        await intake(rt, source, result.intake, listed=listed)
                except SourceError as exc:
                    # The Stampli side failing must not stop posting what is already here.
                    if isinstance(exc, HostKeyMismatchError):
                        audit_host_key_mismatch(rt, exc)
                    result.status = "partial"
                    result.errors.append(f"sftp: {exc}")
                    log.error("connection %s: SFTP failed: %s", rt.name, exc)
            try:
                await adopt_booked(rt, visma, md, result.posting)
                await adopt_or_hold(rt, visma, md, result.posting)  # the supplier ledger's twin
                await adopt_payments(rt, visma, md, result.posting)  # its payments' (after invoices)
            except LookupIncomplete as exc:
                # Not knowing what Visma holds concludes nothing: nothing is sent this cycle.
                result.status = "partial"
                result.errors.append(f"visma: journal lookup did not finish, nothing posted: {exc}")
                log.warning("connection %s: journal lookup did not finish: %s", rt.name, exc)
            else:
                await post(rt, visma, md, result.posting)
    except FatalDestinationError as exc:
        result.status = "failed"
        result.errors.append(f"visma: {exc}")
    except ConnectorError as exc:
        result.status = "failed"
        result.errors.append(str(exc))
    except BaseException as exc:
        # Unexpected (a bug, a local disk error, cancellation): the run row must not say "ok".
        result.status = "failed"
        result.errors.append(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if early is not None and isinstance(early.unclaimed, HostKeyMismatchError):
            audit_host_key_mismatch(rt, early.unclaimed)  # found while the Visma side failed
        result.seconds = time.monotonic() - started
        rt.ledger.finish_run(
            run_id,
            status=result.status,
            stats=result.summary(),
            error="; ".join(result.errors) or None,
        )
    return result
