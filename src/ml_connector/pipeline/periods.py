"""The financial period a document posts in, by ``posting.closed_period_policy``. Pure.

A journal transaction needs the period open in the general ledger; a supplier invoice needs it open
in the supplier ledger as well (Visma closes the two separately: ``closedInSupplierLedger``), and a
document parked on that waits for ``AP_PERIOD`` so that auto-replay does not retry it while the GL
alone is open.
"""

from __future__ import annotations

from datetime import date

from ml_connector.config.model import ConnectionConfig
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.pipeline.journal import period_of
from ml_connector.pipeline.masterdata import AP_PERIOD, PERIOD, MasterData


def choose_period(
    day: date, md: MasterData, cfg: ConnectionConfig, *, supplier_ledger: bool = False
) -> tuple[str, date]:
    """The period to post in, by the closed-period policy; raises Unpostable to park.
    ``supplier_ledger``: a supplier invoice, so the period must be open there as well."""
    period = period_of(day)
    if md.period_open(period, supplier_ledger=supplier_ledger):
        return period, day
    exists = period in md.periods
    if exists and cfg.posting.closed_period_policy == "next_open":
        nxt = md.next_open_period(period, supplier_ledger=supplier_ledger)
        if nxt is not None:
            start = md.periods[nxt][1].get("start_date")
            first = date.fromisoformat(start) if start else date(int(nxt[:4]), int(nxt[4:]), 1)
            return nxt, first
    closed_in_ap = exists and supplier_ledger and md.period_open(period)
    state = "closed in the supplier ledger" if closed_in_ap else "closed" if exists else "not set up"
    raise Unpostable(
        Problem(
            Category.VISMA_MASTER_DATA,
            "period_closed" if exists else "period_missing",
            f"financial period {period} is {state} in Visma company {md.company_id}; open it in Visma "
            '(or set posting.closed_period_policy = "next_open"), then it posts by itself',
            ((AP_PERIOD if supplier_ledger else PERIOD, period),),
        )
    )
