"""SIGKILL at each durable boundary, then restart: every document in Visma exactly once, none lost.

``ml-connector run`` runs as a subprocess with ``ML_CONNECTOR_CRASH_AT=<boundary>:<N>`` (the
process kills itself the Nth time it reaches the boundary, with 4 creates in flight), then again
without it. The simulator's journal is the judge.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.crashpoints import BOUNDARIES
from tests.pipeline.conftest import TOTAL_COUNTS, Connection, ConnectionFactory, Dataset, sim_counting
from tests.support.visma_sim import VismaSim

# The Nth time: mid-intake for the download (2nd of 3 files), mid-posting for the others.
CRASH_N = {"after_download": 2, "after_claim": 12, "after_send": 12, "after_record": 12, "after_release": 12}


def _setup(c: Connection, n_invoices: int = 40) -> dict[str, object]:
    ds = Dataset.make(n_invoices, missing=0)
    ids = ds.invoice_ids
    half = len(ids) // 2
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids[:half]))
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0002.csv", ds.invoices_text(ids[half:]))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text())
    return dict(ds.expected(ids))


def _statuses(c: Connection) -> dict[str, str]:
    app = c.open_app()
    try:
        return {str(r.reference): str(r.status) for r in app.ledger.all_documents(c.name)}
    finally:
        app.close()
        c._apps.remove(app)


def _file_statuses(c: Connection) -> list[str]:
    app = c.open_app()
    try:
        return [str(r.status) for r in app.ledger.files_with_status(c.name, ["downloaded", "processed"])]
    finally:
        app.close()
        c._apps.remove(app)


def _run_clean(c: Connection) -> list[dict[str, object]]:
    done = c.cli("run", "--json")
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    summary: list[dict[str, object]] = json.loads(done.stdout)
    return summary


# Every boundary on SQLite; on PostgreSQL the two where the ledger and Visma disagree at the kill.
CASES = [
    *(pytest.param("sqlite", b, id=f"sqlite-{b}") for b in BOUNDARIES),
    *(
        pytest.param("postgresql", b, id=f"postgresql-{b}", marks=pytest.mark.postgres)
        for b in ("after_claim", "after_send")
    ),
]


@pytest.mark.parametrize("total_count", TOTAL_COUNTS)
@pytest.mark.parametrize(("ledger_url", "boundary"), CASES, indirect=["ledger_url"])
def test_sigkill_at_each_boundary_then_restart(
    connection_factory: ConnectionFactory,
    visma_sim_factory: Callable[..., VismaSim],
    boundary: str,
    total_count: str,
) -> None:
    c = connection_factory(sim_counting(visma_sim_factory, total_count))
    expected = _setup(c)
    crashed = c.cli("run", "--json", crash_at=f"{boundary}:{CRASH_N[boundary]}")
    assert crashed.returncode == -signal.SIGKILL, f"rc={crashed.returncode}\n{crashed.stderr}"
    assert crashed.stdout == ""  # it died before printing anything

    in_visma = c.batches_by_reference()
    ledger = _statuses(c)
    if boundary == "after_download":
        # killed while taking in the second file: nothing posted, the first file's documents wait
        assert in_visma == {}
        assert ledger and set(ledger.values()) == {DocStatus.PENDING}
        assert len(ledger) < len(expected)
        # the second file is archived and recorded but was never read: the restart reads it
        assert sorted(_file_statuses(c)) == ["downloaded", "processed"]
    else:
        # killed mid-batch: some documents reached Visma, not all
        assert 0 < len(in_visma) < len(expected), len(in_visma)
        assert DocStatus.PENDING in ledger.values()
    if boundary == "after_claim":
        assert DocStatus.POSTING in ledger.values()  # a claim whose process is gone
    if boundary == "after_send":
        # the batch is in Visma, the ledger never heard back: the dangerous case
        assert any(ledger.get(ref) == DocStatus.POSTING for ref in in_visma), ledger
    if boundary == "after_record":
        created = [ref for ref, st in ledger.items() if st == DocStatus.CREATED]
        # the last one recorded never got its release; others may have been released in flight
        assert any(in_visma[ref][0]["status"] != "Released" for ref in created), created

    [summary] = _run_clean(c)
    assert summary["status"] == "ok", summary
    c.assert_exactly_once(expected)  # type: ignore[arg-type]
    assert set(_statuses(c).values()) == {DocStatus.POSTED}
    # every batch we made is released (a crash before the release is finished by the restart)
    assert all(b[0]["status"] == "Released" for b in c.batches_by_reference().values())
    if boundary in ("after_claim", "after_send"):
        assert int(summary["settled_found"]) + int(summary["settled_not_found"]) >= 1, summary  # type: ignore[call-overload]
    if boundary == "after_send":
        assert int(summary["settled_found"]) >= 1, summary  # type: ignore[call-overload]


@pytest.mark.parametrize("total_count", TOTAL_COUNTS)
@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_crash_after_crash_then_restart(
    connection_factory: ConnectionFactory, visma_sim_factory: Callable[..., VismaSim], total_count: str
) -> None:
    """Three kills in a row at different boundaries (each restart dies too), then a clean run."""
    c = connection_factory(sim_counting(visma_sim_factory, total_count))
    expected = _setup(c, 40)
    for spec in ("after_send:6", "after_claim:3", "after_record:4"):
        crashed = c.cli("run", "--json", crash_at=spec)
        assert crashed.returncode == -signal.SIGKILL, f"{spec}: rc={crashed.returncode}\n{crashed.stderr}"
        found = c.batches_by_reference()
        assert all(len(b) == 1 for b in found.values()), f"duplicate after {spec}"
    [summary] = _run_clean(c)
    assert summary["status"] == "ok", summary
    c.assert_exactly_once(expected)  # type: ignore[arg-type]
    assert set(_statuses(c).values()) == {DocStatus.POSTED}
