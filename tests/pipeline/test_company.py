"""Issue 12.3: rows of another Stampli company never post, through a whole cycle over real SFTP.

The connection is configured for ``C100234`` with a built-in profile (which used to carry no
company at all). One CSV file has a single row of another company, one XML file has one invoice
element naming another company; both files are rejected as a whole (stampli-format §4.7), the good
file posts, and ``failures`` names the file, the row or element and both company ids.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from ml_connector import exitcodes, service
from ml_connector.domain.documents import Invoice
from ml_connector.stampli.profile import BUILTIN_PROFILES
from ml_connector.stampli.read import read_export
from ml_connector.stampli.write import write_invoices_xml
from tests.pipeline.conftest import Connection, Dataset

OURS = "C100234"
OTHER = "C999999"
CSV_NAME = f"stampli_invoices_{OURS}_20250331T071500Z_0002.csv"
XML_NAME = f"stampli_invoices_{OURS}_20250331T071500Z_0003.xml"


def _invoices(tmp: Path, text: str) -> list[Invoice]:
    path = tmp / "src.csv"
    path.write_text(text, encoding="utf-8", newline="")
    result = read_export(path, profile=BUILTIN_PROFILES["canonical"])
    assert result.status == "ok", result.issues
    return [d for d in result.documents if isinstance(d, Invoice)]


def test_rows_of_another_company_post_nothing_and_show_in_failures(connection: Connection) -> None:
    c = connection
    ds = Dataset.make(8, missing=0)
    ids = [i for i in ds.invoice_ids if ds.approved(i)][:6]
    good, in_csv, in_xml = ids[0:2], ids[2:4], ids[4:6]

    c.put_invoices(f"stampli_invoices_{OURS}_20250331T071500Z_0001.csv", ds.invoices_text(good))
    # The last row of the CSV (not its first record) belongs to another company.
    ds.invoice_rows[in_csv[1]][-1]["stampliCompanyId"] = OTHER
    c.put_invoices(CSV_NAME, ds.invoices_text(in_csv))
    # The XML's root says our company; the second invoice element names another one.
    xml = c.workdir / XML_NAME
    write_invoices_xml(
        _invoices(c.workdir, ds.invoices_text(in_xml)),
        xml,
        company_id=OURS,
        export_id="exp-1",
        generated_at=datetime(2025, 3, 31, tzinfo=UTC),
    )
    text = xml.read_text(encoding="utf-8")
    cut = text.index("<Invoice>", text.index("<Invoice>") + 1) + len("<Invoice>")
    c.put_invoices(XML_NAME, f"{text[:cut]}\n    <StampliCompanyId>{OTHER}</StampliCompanyId>{text[cut:]}")

    run = c.cli("run", "--json")
    assert run.returncode == exitcodes.REJECTED, f"{run.stdout}\n{run.stderr}"
    [summary] = json.loads(run.stdout)
    assert summary["files_rejected"] == 2 and summary["posted"] == len(good), summary
    c.assert_exactly_once(ds.expected(good, payments=False))

    proc = c.cli("failures", "--json")
    assert proc.returncode == 0, proc.stderr
    reasons = [f["reason"] for f in json.loads(proc.stdout) if f["code"].startswith("file_rejected")]
    assert len(reasons) == 2, reasons
    csv_reason = next(r for r in reasons if CSV_NAME in r)
    xml_reason = next(r for r in reasons if XML_NAME in r)
    for reason in (csv_reason, xml_reason):
        assert "company_mismatch" in reason and OTHER in reason and OURS in reason, reason
    assert "row " in csv_reason, csv_reason  # the record that carried the other company
    assert "number 2" in xml_reason, xml_reason  # the second <Invoice> element

    # A second cycle does not take the rejected files in again, and still posts nothing of them.
    [again] = asyncio.run(service.run_once(c.open_app(), c.name))
    assert again.status == "ok" and again.posting.posted == 0
    c.assert_exactly_once(ds.expected(good, payments=False))
