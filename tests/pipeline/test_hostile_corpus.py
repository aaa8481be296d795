"""Every hostile invoice file of the reader corpus through whole cycles over SFTP (issue 19).

The corpus of ``tests/stampli/test_bad_inputs.py`` (malformed, malicious and ambiguous exports, each
with the issue the reader must give) is put on the SFTP server at once, each file with its own
invoice ids so that no two files share a document. One cycle later:

- every document the reader accepts from any of them is in Visma exactly once (or parked with an open
  failure, never lost), and nothing else of ours is;
- every rejected file and every file with a rejected record has an open failure tied to that file;
- the next cycle runs normally: it reads none of them again and posts a new good file.

What the reader decides for each file is computed here with the connection's own profile, so the test
follows the corpus as it grows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ml_connector.domain.documents import Invoice
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import run_cycle
from ml_connector.pipeline.runtime import reader_profile
from ml_connector.stampli.codes import SKIP_CODES
from ml_connector.stampli.read import read_export
from tests.pipeline.conftest import Connection, Dataset
from tests.stampli.test_bad_inputs import CASES
from tests.stampli.util import CANONICAL

SAMPLE_ID_PREFIX = b"41877"  # every invoice id of the sample the corpus mutates starts with it


def _put_bytes(c: Connection, name: str, data: bytes) -> None:
    path = c.put_invoices(name, "")
    path.write_bytes(data)


def test_every_hostile_invoice_file_in_one_cycle(connection: Connection, tmp_path: Path) -> None:
    c = connection
    app = c.open_app()
    rt = app.runtime(c.name)
    profile = reader_profile(rt.config)
    expected: set[str] = set()
    rejected_names: set[str] = set()
    names: list[str] = []
    for n, case in enumerate(c for c in CASES if c.profile is CANONICAL):
        folder = tmp_path / f"case{n}"
        folder.mkdir()
        made = case.make(folder)
        if "payment" in made.name:
            continue  # payments need their invoices; the corpus's invoice files are the point here
        data = made.read_bytes().replace(SAMPLE_ID_PREFIX, f"{n + 10:03d}".encode() + SAMPLE_ID_PREFIX)
        ext = "xml" if made.suffix.lower() == ".xml" else "csv"
        name = f"stampli_invoices_C100234_20250331T{n // 60:02d}{n % 60:02d}00Z_{n:04d}.{ext}"
        local = folder / name
        local.write_bytes(data)
        result = read_export(local, remote_path=name, profile=profile, kind="invoices")
        refused = [r for r in result.rejected if not all(i.code in SKIP_CODES for i in r.issues)]
        if result.status == "rejected" or refused:  # a not-approved record is skipped, not a failure
            rejected_names.add(name)
        for doc in result.documents:
            assert isinstance(doc, Invoice)
            if doc.approval_status.upper() in profile.approved_statuses:
                expected.add(f"ST-{doc.stampli_invoice_id}")
        _put_bytes(c, name, data)
        names.append(name)
    assert len(names) >= 40 and len(rejected_names) >= 30, (len(names), len(rejected_names))
    assert expected, "no file of the corpus kept a good document: the test would check nothing"

    first = asyncio.run(run_cycle(rt))
    assert first.status == "ok" and first.intake.files_new == len(names), first.errors

    # good documents: in Visma once, or parked with an open failure; never lost, never twice
    found = c.batches_by_reference()
    twice = {ref: len(bs) for ref, bs in found.items() if len(bs) > 1}
    assert not twice, twice
    assert not set(found) - expected, sorted(set(found) - expected)
    parked = {
        f"ST-{d.doc_key.split(':', 1)[1]}"
        for d in app.ledger.all_documents(c.name)
        if d.status == DocStatus.PARKED
    }
    failing_docs = {str(f.doc_key) for f in app.ledger.open_failures(c.name) if f.doc_key}
    for ref in expected:
        if ref not in found:
            assert ref in parked and f"INV:{ref[3:]}" in failing_docs, f"{ref} neither posted nor parked"

    # bad files and records: each file with a rejection has an open failure tied to it
    files = {
        str(r.remote_path).rsplit("/", 1)[-1]: r
        for r in app.ledger.files_with_status(c.name, ["processed", "partial", "rejected", "downloaded"])
    }
    assert set(files) == set(names)
    assert not [n for n, r in files.items() if r.status == "downloaded"], "a file was left unread"
    failure_files = {f.file_id for f in app.ledger.open_failures(c.name)}
    unexplained = sorted(n for n in rejected_names if files[n].id not in failure_files)
    assert not unexplained, f"rejected without an open failure: {unexplained}"

    # the next cycle runs normally: nothing read again, a new good file posts
    dataset = Dataset.make(2, missing=0, seed=5)
    c.put_invoices(
        "stampli_invoices_C100234_20250401T000000Z_9999.csv", dataset.invoices_text(dataset.invoice_ids)
    )
    second = asyncio.run(run_cycle(rt))
    assert second.status == "ok", second.errors
    assert second.intake.files_new == 1 and second.intake.files_skipped == len(names)
    good = dataset.expected(dataset.invoice_ids, payments=False)
    assert second.posting.posted == len(good)
    after = c.batches_by_reference()
    assert all(len(after[ref]) == 1 for ref in good)
    assert not {ref: len(bs) for ref, bs in after.items() if len(bs) > 1}
