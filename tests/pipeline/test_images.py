"""The invoice image over real servers: downloaded from ``images/`` beside the export by the real
OpenSSH sshd, attached to the journal transaction over HTTP by the Visma simulator, whose
``/_sim/`` page shows each stored revision's size and sha256; the ledger on SQLite and PostgreSQL.
A SIGKILL between create and attach, and between the upload and its record, is finished by the
next run with one attachment per document and nothing posted twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal

import pytest

from ml_connector import service
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset

N_INVOICES = 6


def _cycle(app: service.App, name: str) -> CycleResult:
    [result] = asyncio.run(service.run_once(app, name))
    assert result.status == "ok", result.errors
    return result


def _revisions(c: Connection, batch: str) -> dict[str, list[tuple[int, str]]]:
    """File name -> (size, sha256) of every revision Visma stored on the batch."""
    stored = c.sim.journal_attachments(batch)
    return {a["name"]: [(r["size"], r["sha256"]) for r in a["revisions"]] for a in stored}


def _export_name() -> str:
    return "stampli_invoices_C100234_20250331T071500Z_0001.csv"


def _batches(c: Connection) -> dict[str, str]:
    """Our reference -> its one batch number."""
    found = c.batches_by_reference()
    assert all(len(b) == 1 for b in found.values()), "a reference on more than one batch"
    return {ref: str(b[0]["batchNumber"]) for ref, b in found.items()}


def test_images_come_with_the_export_and_are_attached_to_the_journal(connection: Connection) -> None:
    c = connection
    ds = Dataset.make(N_INVOICES, images=True)
    ids = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids))
    without = ids[2]
    for invoice_id in ids:
        if invoice_id != without:
            c.put_image(*ds.image_of(invoice_id))
    app = c.open_app()
    result = _cycle(app, c.name)
    assert result.intake.images_fetched == N_INVOICES - 1 and result.intake.images_missing == 1
    assert result.posting.attached == N_INVOICES - 1 and result.posting.posted == N_INVOICES
    batches = _batches(c)
    for invoice_id in ids:
        batch = batches[f"ST-{invoice_id}"]
        if invoice_id == without:
            assert _revisions(c, batch) == {}
            doc = app.ledger.document(c.name, f"INV:{invoice_id}")
            assert doc is not None and doc.image_note and f"{invoice_id}.pdf" in doc.image_note
            continue
        name, data = ds.image_of(invoice_id)
        # the bytes Visma stored are the bytes Stampli's server had: size and sha256
        assert _revisions(c, batch) == {name: [(len(data), hashlib.sha256(data).hexdigest())]}
    assert all(b[0]["status"] == "Released" for b in c.batches_by_reference().values())
    assert c.sim.contract_violations() == []
    # the release names the version the upload answered with: one release per document, no 412
    statuses = c.sim.stats()["statuses"]
    assert not any("412" in str(by_status) for by_status in statuses.values()), statuses
    release_calls = sum(n for path, n in c.journal_calls().items() if path.endswith("/action/release"))
    assert release_calls == N_INVOICES, c.journal_calls()

    again = _cycle(app, c.name)  # a second cycle: nothing fetched or attached again
    assert again.intake.images_fetched == 0 and again.posting.attached == 0
    assert all(len(v) == 1 for b in batches.values() for v in _revisions(c, b).values())


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_no_images_folder_at_all_is_a_warning_per_invoice(connection: Connection) -> None:
    """OpenSSH answers 'no such file' for the missing images/ folder: nothing fails, nothing waits."""
    c = connection
    ds = Dataset.make(3, images=True)
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ds.invoice_ids))
    app = c.open_app()
    result = _cycle(app, c.name)
    assert result.intake.images_missing == 3 and result.posting.posted == 3 and result.posting.attached == 0
    notes = {d.image_note for d in app.ledger.all_documents(c.name)}
    assert notes == {f"no images/ folder beside the export {c.remote_root}/invoices/" + _export_name()}


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_require_image_parks_then_posts_with_the_image_once_it_appears(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(require_image=True)
    ds = Dataset.make(2, images=True)
    first_id, late_id = ds.invoice_ids
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ds.invoice_ids))
    c.put_image(*ds.image_of(first_id))
    app = c.open_app()
    first = asyncio.run(service.run_once(app, c.name))[0]
    assert first.posting.posted == 1 and list(_batches(c)) == [f"ST-{first_id}"]
    failures = c.cli("failures", "--json")
    assert failures.returncode == 0, failures.stderr
    [failure] = json.loads(failures.stdout)
    assert failure["code"] == "image_missing" and f"{late_id}.pdf" in failure["reason"]

    name, data = ds.image_of(late_id)
    c.put_image(name, data)
    second = _cycle(app, c.name)
    assert second.intake.images_arrived == 1 and second.posting.posted == 1 and second.posting.attached == 1
    batch = _batches(c)[f"ST-{late_id}"]
    assert _revisions(c, batch) == {name: [(len(data), hashlib.sha256(data).hexdigest())]}
    assert {d.status for d in app.ledger.all_documents(c.name)} == {DocStatus.POSTED}
    assert app.ledger.open_failures(c.name) == []


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("boundary", "uploads_before_the_kill"),
    [("before_attach", 0), ("after_attach", 1)],
    ids=["between-create-and-attach", "between-upload-and-record"],
)
def test_sigkill_around_the_attach_then_restart(
    connection: Connection, boundary: str, uploads_before_the_kill: int
) -> None:
    c = connection
    ds = Dataset.make(N_INVOICES, images=True)
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ds.invoice_ids))
    for invoice_id in ds.invoice_ids:
        c.put_image(*ds.image_of(invoice_id))
    crashed = c.cli("run", "--json", crash_at=f"{boundary}:3")
    assert crashed.returncode == -signal.SIGKILL, f"rc={crashed.returncode}\n{crashed.stderr}"
    app = c.open_app()
    # created in Visma, the attach not recorded: the restart must (re)send these images
    unrecorded = {
        str(d.batch_number): str(d.image_name)
        for d in app.ledger.all_documents(c.name)
        if d.status == DocStatus.CREATED and d.image_path and d.image_attached_at is None
    }
    sent = {b: len(_revisions(c, b).get(name, [])) for b, name in unrecorded.items()}
    assert uploads_before_the_kill in sent.values(), sent  # the one killed at the boundary

    done = c.cli("run", "--json")
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    batches = _batches(c)
    assert sorted(batches) == sorted(f"ST-{i}" for i in ds.invoice_ids)  # each posted once
    assert all(b[0]["status"] == "Released" for b in c.batches_by_reference().values())
    for invoice_id in ds.invoice_ids:
        name, data = ds.image_of(invoice_id)
        stored = _revisions(c, batches[f"ST-{invoice_id}"])
        assert list(stored) == [name]  # one attachment per document, whatever was resent
        assert set(stored[name]) == {(len(data), hashlib.sha256(data).hexdigest())}
    for batch, name in unrecorded.items():  # each sent once more: a new revision, harmless
        assert len(_revisions(c, batch)[name]) == sent[batch] + 1
    docs = app.ledger.all_documents(c.name)
    assert all(d.status == DocStatus.POSTED and d.image_attached_at is not None for d in docs)
