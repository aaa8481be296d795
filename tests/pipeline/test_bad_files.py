"""One bad file never stops a connection (issue 19, point 1).

Whole cycles over SFTP with good files around files that made the readers raise (an XML count
attribute in superscript digits, a CSV line over the csv module's field limit): the good documents
post once, each bad file is rejected with an open failure naming it and the cause plus an ERROR log
line, the next cycle runs normally without reading them again, and the operator can replay or set
aside a rejected file from the CLI. Any exception a reader raises (not only today's) is covered by
a reader that fails half-way through a file.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ml_connector import service
from ml_connector.domain.documents import Invoice, Payment
from ml_connector.domain.issues import Issue
from ml_connector.pipeline.cycle import run_cycle
from ml_connector.pipeline.intake import IntakeStats, process_file
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import RejectedRecord, iter_export, read_export
from ml_connector.stampli.write import write_invoices_xml
from tests.pipeline.conftest import Connection, Dataset

GOOD_A = "stampli_invoices_C100234_20250331T071500Z_0001.csv"
BAD_XML = "stampli_invoices_C100234_20250331T081500Z_0002.xml"
BAD_CSV = "stampli_invoices_C100234_20250331T091500Z_0003.csv"
GOOD_C = "stampli_invoices_C100234_20250331T101500Z_0004.csv"


def _invoices(data: Dataset, ids: list[str], tmp: Path) -> list[Invoice]:
    src = tmp / "src_invoices.csv"
    src.write_text(data.invoices_text(ids), encoding="utf-8", newline="")
    result = read_export(src, profile=BUILTIN_PROFILES["canonical"], kind="invoices")
    assert result.status == "ok", result.issues
    return [d for d in result.documents if isinstance(d, Invoice)]


def _bad_count_xml(data: Dataset, ids: list[str], tmp: Path) -> str:
    """A well-formed export whose invoiceCount is a superscript digit (Python's isdigit() says yes)."""
    out = tmp / "bad.xml"
    write_invoices_xml(
        _invoices(data, ids, tmp),
        out,
        company_id="C100234",
        export_id="exp-bad-count",
        generated_at=datetime(2025, 3, 31, 8, 15, tzinfo=UTC),
    )
    text = out.read_text("utf-8")
    assert f'invoiceCount="{len(ids)}"' in text
    return text.replace(f'invoiceCount="{len(ids)}"', 'invoiceCount="⁵"')


def _long_line_csv(data: Dataset, ids: list[str]) -> str:
    """A header cell longer than 131,072 characters, then ordinary rows."""
    text = data.invoices_text(ids)
    header, rest = text.split("\r\n", 1)
    return header + "," + "x" * 140_000 + "\r\n" + rest


def _failure_for(failures: list[dict[str, object]], name: str) -> dict[str, object]:
    found = [f for f in failures if name in str(f["reason"])]
    assert len(found) == 1, failures
    return found[0]


def test_bad_files_are_rejected_with_their_reason_and_the_cycle_goes_on(
    connection: Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = connection
    data = Dataset.make(10, missing=0)
    ids = data.invoice_ids
    good = ids[:3] + ids[6:9]
    c.put_invoices(GOOD_A, data.invoices_text(ids[:3]))
    c.put_invoices(BAD_XML, _bad_count_xml(data, ids[3:5], tmp_path))
    c.put_invoices(BAD_CSV, _long_line_csv(data, ids[5:6]))
    c.put_invoices(GOOD_C, data.invoices_text(ids[6:9]))

    app = c.open_app()
    rt = app.runtime(c.name)
    with caplog.at_level(logging.ERROR, logger="ml_connector"):
        first = asyncio.run(run_cycle(rt))
    assert first.status == "ok", first.errors
    assert first.intake.files_new == 4 and first.intake.files_rejected == 2
    assert first.posting.posted == len(data.expected(good, payments=False))
    c.assert_exactly_once(data.expected(good, payments=False))

    open_failures = [f.as_dict() for f in app.ledger.open_failures(c.name)]
    assert len(open_failures) == 2, open_failures
    xml_failure = _failure_for(open_failures, BAD_XML)
    csv_failure = _failure_for(open_failures, BAD_CSV)
    for failure in (xml_failure, csv_failure):
        assert str(failure["code"]).startswith("file_rejected:") and failure["file_id"] is not None
    assert "⁵" in str(xml_failure["reason"])
    assert "131" in str(csv_failure["reason"]) or "field" in str(csv_failure["reason"])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(BAD_XML in m for m in errors) and any(BAD_CSV in m for m in errors), errors
    statuses = {str(r["remote_path"]).rsplit("/", 1)[-1]: r["status"] for r in _files(app, c.name)}
    assert statuses == {GOOD_A: "processed", BAD_XML: "rejected", BAD_CSV: "rejected", GOOD_C: "processed"}

    # the next cycle runs normally and reads none of them again; a new good file still posts
    c.put_invoices("stampli_invoices_C100234_20250331T111500Z_0005.csv", data.invoices_text(ids[9:]))
    second = asyncio.run(run_cycle(rt))
    assert second.status == "ok", second.errors
    assert second.intake.files_new == 1 and second.intake.files_skipped == 4
    assert second.intake.files_rejected == 0 and second.posting.posted == len(
        data.expected(ids[9:], payments=False)
    )
    assert len(app.ledger.open_failures(c.name)) == 2
    c.assert_exactly_once(data.expected(good + ids[9:], payments=False))
    app.close()

    # the operator sets the CSV aside and replays the XML (still bad: it is rejected again)
    aside = c.cli("replay", str(csv_failure["id"]), "--set-aside", "--json")
    assert aside.returncode == 0, aside.stdout + aside.stderr
    assert json.loads(aside.stdout)["set_aside"] == [f"{c.remote_root}/invoices/{BAD_CSV}"]
    again = c.cli("replay", str(xml_failure["id"]), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["files_reread"] == [f"{c.remote_root}/invoices/{BAD_XML}"]
    refused = c.cli("replay", str(xml_failure["id"]), "--set-aside")  # closed by the replay
    assert refused.returncode == 1 and "no open failure" in refused.stdout

    app = c.open_app()
    (reopened,) = app.ledger.open_failures(c.name)
    assert BAD_XML in reopened.reason and reopened.id != xml_failure["id"]
    statuses = {str(r["remote_path"]).rsplit("/", 1)[-1]: r["status"] for r in _files(app, c.name)}
    assert statuses[BAD_CSV] == "set_aside" and statuses[BAD_XML] == "rejected"
    listed = c.cli("failures", "--json")
    assert [f["id"] for f in json.loads(listed.stdout)] == [reopened.id]
    third = asyncio.run(run_cycle(app.runtime(c.name)))
    assert third.status == "ok" and third.intake.files_new == 0 and third.intake.files_rejected == 0
    c.assert_exactly_once(data.expected(good + ids[9:], payments=False))


def _files(app: service.App, name: str) -> list[dict[str, object]]:
    return [
        r.as_dict()
        for r in app.ledger.files_with_status(
            name, ["processed", "partial", "rejected", "set_aside", "downloaded"]
        )
    ]


class _FailsHalfWay:
    """The real stream of a file, raising the way a reader bug or a disk error would after the
    first document: any exception, not only the ones today's readers happen to raise."""

    def __init__(self, path: Path, **kw: object) -> None:
        self._inner = iter_export(path, **kw)  # type: ignore[arg-type]
        self.issues: list[Issue] = self._inner.issues
        self._given = 0

    def __iter__(self) -> Iterator[Invoice | Payment | RejectedRecord]:
        return self

    def __next__(self) -> Invoice | Payment | RejectedRecord:
        if self._given == 1:
            raise MemoryError("simulated: the reader ran out of memory")
        self._given += 1
        return next(self._inner)


def _fails_at_once(path: Path, **kw: object) -> _FailsHalfWay:
    raise UnicodeError("simulated: a codec the reader did not expect")


def test_any_reader_exception_rejects_only_that_file(
    connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    c = connection
    data = Dataset.make(4, missing=0)
    ids = data.invoice_ids
    app = c.open_app()
    rt = app.runtime(c.name)
    stats = IntakeStats()
    results = []
    for n, (chunk, read) in enumerate(((ids[:2], _FailsHalfWay), (ids[2:3], _fails_at_once))):
        path = rt.archive_dir / f"by-hand-{n}_invoices.csv"
        path.write_text(data.invoices_text(chunk), encoding="utf-8", newline="")
        file_id, _ = app.ledger.record_file(
            connection=c.name,
            kind="invoices",
            remote_path=f"/by-hand/{path.name}",
            size=path.stat().st_size,
            mtime=None,
            sha256=f"{n:064d}",
            archive_path=str(path),
            actor="test",
        )
        with caplog.at_level(logging.ERROR, logger="ml_connector"):
            results.append(
                process_file(
                    rt, file_id, path, f"/by-hand/{path.name}", "invoices", f"{n:064d}", stats, read=read
                )
            )
    assert results == ["rejected", "rejected"] and stats.files_rejected == 2
    first, second = app.ledger.open_failures(c.name)
    assert "/by-hand/by-hand-0_invoices.csv" in first.reason and "MemoryError" in first.reason
    assert "1 documents read before this wait for the file" in first.reason
    assert "/by-hand/by-hand-1_invoices.csv" in second.reason and "UnicodeError" in second.reason
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    # the ERROR line carries the traceback (folded into the message once logs.configure has run)
    assert len(logged) == 2 and all(r.exc_info or "Traceback" in r.getMessage() for r in logged)

    # the document read before the failure waits for its file (never posted); the cycle goes on
    c.put_invoices(GOOD_A, data.invoices_text(ids[3:]))
    cycle = asyncio.run(run_cycle(rt))
    assert cycle.status == "ok" and cycle.posting.posted == 1
    c.assert_exactly_once(data.expected([ids[3]], payments=False))
    waiting = app.ledger.document(c.name, f"INV:{ids[0]}")
    assert waiting is not None and waiting.status == "reading"
