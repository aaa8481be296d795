"""Every view shows the same amount for the same document (issue 13 point 5), the reconciliation
lists skipped and voided documents with their reasons (point 4), and its CSV neutralises formula
cells (issue 19 point 8).

The packaged samples hold PAY:90331870, a payment of 25510.60 NOK that pays an invoice of 31748.10
and nets a credit note of -6237.50: its voucher debits 31748.10, which the reconciliation used to
show as "sent", while the dashboard showed the payment's 25510.60. The payment's amount is 25510.60.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from ml_connector import service
from ml_connector.csv_cells import is_plain_negative_number
from ml_connector.service import accounts
from ml_connector.vendors.csvfile import TRIGGERS, restore
from ml_connector.web.server import uvicorn_config
from tests.support.sample_world import INVOICES_CSV, PAYMENTS_CSV, SampleWorld, sample_world
from tests.web.conftest import ServerThread, Web

PAYMENT = "PAY:90331870"
VOIDED = "PAYV:90332014"  # voided in Stampli before it was ever posted
EXPECTED = {"PAY:90331870": "25510.60", "INV:41877355": "-6237.50"}


@dataclass
class Views:
    world: SampleWorld
    web: Web

    @property
    def config(self) -> Path:
        return self.world.config

    @property
    def env(self) -> dict[str, str]:
        return self.world.env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.world.cli(*args)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    root = tmp_path_factory.mktemp("amounts")
    with sample_world(root, [INVOICES_CSV, PAYMENTS_CSV]) as world:
        app = service.open_app(world.config, environ=world.env, settle_after=timedelta(0))
        dashboard = None
        try:
            [first] = asyncio.run(service.run_once(app, "acme"))
            assert first.status == "ok", first.errors
            accounts.add_user(app.ledger, "vera", "viewer", "view-pass-123456")
            dashboard = ServerThread(uvicorn_config(app, "127.0.0.1", 0)).start()
            web = Web(f"http://127.0.0.1:{dashboard.port}")
            assert web.login("vera", "view-pass-123456").status_code == 303
            yield Views(world, web)
            web.close()
        finally:
            if dashboard is not None:
                dashboard.stop()
            app.close()


def _csv_rows(text: str) -> dict[str, dict[str, str]]:
    return {r["doc_key"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}


def test_every_view_shows_the_same_amount_for_the_same_document(views: Views) -> None:
    # the API's document list
    api = {d["doc_key"]: d for d in views.web.http.get("/api/documents", params={"limit": 1000}).json()}
    # the dashboard's document list (HTML) and the document page
    page = views.web.http.get("/documents", params={"q": "90331870"}).text
    # the reconciliation: CLI json, CLI csv, API json, the dashboard's CSV download
    cli_json = views.cli("reconcile", "--period", "2025-03", "--format", "json")
    assert cli_json.returncode == 0, cli_json.stdout + cli_json.stderr
    recon_cli = {d["doc_key"]: d for d in json.loads(cli_json.stdout)["documents"]}
    recon_cli_csv = _csv_rows(views.cli("reconcile", "--period", "2025-03", "--format", "csv").stdout)
    recon_api = {
        d["doc_key"]: d
        for d in views.web.http.get("/api/reconciliation", params={"period": "2025-03"}).json()["documents"]
    }
    download = views.web.http.get("/api/reconciliation.csv", params={"period": "2025-03"})
    assert download.status_code == 200
    recon_download = _csv_rows(download.text)

    for key, amount in EXPECTED.items():
        assert api[key]["amount"] == amount, api[key]
        assert recon_cli[key]["amount"] == amount, recon_cli[key]
        assert recon_api[key]["amount"] == amount, recon_api[key]
        for rows in (recon_cli_csv, recon_download):
            assert restore(rows[key]["amount"]) == amount, rows[key]
        # what we sent and what Visma holds, in the same terms
        assert recon_cli[key]["sent_total"] == amount, recon_cli[key]
        assert recon_cli[key]["visma_total"] == amount, recon_cli[key]
        assert recon_cli[key]["outcome"] == "matched", recon_cli[key]
    assert re.search(r"25510\.60\s+NOK", page), page
    assert "31748.10" not in page
    doc_id = api[PAYMENT]["id"]
    assert re.search(r"25510\.60\s+NOK", views.web.http.get(f"/documents/{doc_id}").text)
    # the whole table agrees, document by document
    for key, row in recon_cli.items():
        if key in api:
            assert row["amount"] == (api[key]["amount"] or ""), (key, row, api[key])


def test_reconcile_lists_skipped_and_voided_documents_with_their_reasons(views: Views) -> None:
    report = json.loads(views.cli("reconcile", "--period", "2025-03", "--format", "json").stdout)
    rows = {d["doc_key"]: d for d in report["documents"]}
    assert rows[VOIDED]["outcome"] == "skipped", rows[VOIDED]
    assert "voided" in rows[VOIDED]["detail"] and "before it was posted" in rows[VOIDED]["detail"]
    assert report["totals"]["skipped"] >= 1
    table = views.cli("reconcile", "--period", "2025-03")
    assert VOIDED in table.stdout and "skipped" in table.stdout, table.stdout


def test_reconciliation_csv_neutralises_formula_cells(views: Views) -> None:
    """A vendor name that a spreadsheet would evaluate is written as text in both CSVs."""
    app = service.open_app(views.config, environ=views.env)
    try:
        import sqlalchemy as sa

        from ml_connector.ledger.schema import documents

        with app.ledger.tx() as conn:
            conn.execute(
                sa.update(documents)
                .where(documents.c.doc_key == PAYMENT)
                .values(vendor_name='=HYPERLINK("http://evil.example","x")', number="@SUM(1+1)")
            )
    finally:
        app.close()
    for text in (
        views.cli("reconcile", "--period", "2025-03", "--format", "csv").stdout,
        views.web.http.get("/api/reconciliation.csv", params={"period": "2025-03"}).text,
    ):
        raw = list(csv.reader(io.StringIO(text, newline="")))
        assert raw, text
        for cells in raw:
            for cell in cells:
                # text for a spreadsheet, or a negative amount it reads as a number
                assert not cell or cell[0] not in TRIGGERS or is_plain_negative_number(cell), cells
                assert not cell.startswith("'-") or not is_plain_negative_number(cell[1:]), cells
        row = _csv_rows(text)[PAYMENT]
        assert row["vendor"] == '\'=HYPERLINK("http://evil.example","x")'
        assert restore(row["number"]) == "@SUM(1+1)"
        assert restore(row["amount"]) == "25510.60"
