"""The finance team's path through the dashboard in a real browser (Debian's chromium, headless):
log in, find a parked invoice, create the missing cost center in Visma (the simulator), replay it,
see it posted, download the reconciliation CSV, run the connection check. Each page is saved as a
screenshot under test-artifacts/web/.

Playwright's sync API runs here in the test thread; the dashboard runs in its own thread.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web.conftest import MISSING, PERIOD, World

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `./dev test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_viewer_sees_no_replay_button(world: World, page: Page, artifacts: Path) -> None:
    viewer = world.users["viewer"]
    page.goto(world.base_url + "/login")
    page.fill("input[name=username]", viewer.name)
    page.fill("input[name=password]", viewer.password)
    page.click("#login")
    expect(page.locator("#whoami")).to_contain_text("viewer")
    page.goto(world.base_url + "/failures")
    expect(page.locator("#failures tbody tr")).to_have_count(2)
    expect(page.locator("#failures")).to_contain_text("Visma administrator")
    expect(page.locator("#replay-selected")).to_have_count(0)
    expect(page.locator("input.pick")).to_have_count(0)
    shot(page, artifacts, "00-failures-viewer")


def test_find_fix_replay_reconcile(world: World, page: Page, artifacts: Path) -> None:
    parked = world.parked_invoices()
    assert len(parked) == 2
    invoice = parked[0]
    op = world.users["operator"]

    # ---- log in
    page.goto(world.base_url + "/")
    expect(page).to_have_url(world.base_url + "/login?next=/")
    page.fill("input[name=username]", op.name)
    page.fill("input[name=password]", "wrong password")
    page.click("#login")
    expect(page.locator("#login-error")).to_contain_text("Wrong user name or password")
    shot(page, artifacts, "01-login-refused")
    page.fill("input[name=username]", op.name)
    page.fill("input[name=password]", op.password)
    page.click("#login")

    # ---- overview: one connection, 2 parked, a chart
    expect(page).to_have_url(world.base_url + "/")
    expect(page.locator("#whoami")).to_contain_text("olga")
    expect(page.locator("#parked-acme")).to_have_text("2")
    expect(page.locator("svg.chart rect.parked")).to_have_count(14)
    assert page.locator("svg.chart rect.posted").last.get_attribute("height") not in ("0", "0.0")
    shot(page, artifacts, "02-overview")

    # ---- find the parked invoice by its number
    page.click("nav >> text=Documents")
    page.fill("#q", str(invoice["number"]))
    page.click("#search")
    rows = page.locator("#documents tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("parked")
    shot(page, artifacts, "03-documents-search")
    rows.first.locator("a").click()
    expect(page.locator("#doc-status")).to_have_text("parked")
    expect(page.locator("text=Why it is stuck")).to_be_visible()
    expect(page.locator(".warnbox")).to_contain_text(MISSING)
    expect(page.locator(".warnbox")).to_contain_text("Visma administrator")
    expect(page.locator("#source-file")).to_contain_text("/outbound/invoices/")
    expect(page.locator("#source-file")).to_contain_text("row")
    shot(page, artifacts, "04-document-parked")

    # ---- failures: reason, who can fix it
    page.click("nav >> text=Failures")
    expect(page.locator("#failures tbody tr")).to_have_count(2)
    expect(page.locator("#failures")).to_contain_text(f"cost center {MISSING}")
    shot(page, artifacts, "05-failures")

    # ---- a Visma administrator creates the missing cost center
    world.sim.add_segment_value(1, MISSING, "Prosjektkontor")

    # ---- replay the one invoice
    failure = next(f for f in world.app.ledger.open_failures("acme") if f.document_id == invoice["id"])
    page.check(f"#failure-{failure.id} input.pick")
    page.click("#replay-selected")
    result = page.locator("#replay-result")
    expect(result).to_contain_text("Replayed by web:olga")
    expect(result).to_contain_text("posted")
    shot(page, artifacts, "06-replayed")

    # ---- the document is posted, with its batch number, voucher and audit trail naming olga
    page.click("nav >> text=Documents")
    page.fill("#q", str(invoice["number"]))
    page.click("#search")
    page.locator("#documents tbody tr a").first.click()
    expect(page.locator("#doc-status")).to_have_text("posted")
    doc = world.app.ledger.document_by_id(int(invoice["id"]))
    assert doc.status == "posted" and doc.batch_number
    expect(page.locator("#batch-number")).to_have_text(str(doc.batch_number))
    expect(page.locator("#voucher")).to_contain_text(str(doc.reference))
    expect(page.locator("#audit")).to_contain_text("web:olga")
    shot(page, artifacts, "07-document-posted")

    # ---- reconciliation for the period, and its CSV
    page.click("nav >> text=Reconciliation")
    page.fill("#period", PERIOD)
    page.click("#reconcile")
    expect(page.locator("#recon-totals")).to_contain_text("matched")
    expect(page.locator("#recon")).to_contain_text(str(invoice["doc_key"]))
    shot(page, artifacts, "08-reconciliation")
    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    assert download.suggested_filename == f"reconciliation-{PERIOD}.csv"
    target = artifacts / download.suggested_filename
    download.save_as(str(target))
    rows_csv = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    mine = [r for r in rows_csv if r["doc_key"] == invoice["doc_key"]]
    assert len(mine) == 1 and mine[0]["outcome"] == "matched", mine
    assert mine[0]["batch_number"] == doc.batch_number
    assert not [r for r in rows_csv if r["outcome"] not in ("matched", "not_posted")], rows_csv

    # ---- connections: check both sides from the button
    page.click("nav >> text=Connections")
    page.click("#check-acme")
    expect(page.locator("#check-result-acme")).to_have_text("all ok")
    expect(page.locator("#connection-acme")).to_contain_text("calls used")
    shot(page, artifacts, "09-connections-checked")

    # ---- the overview now shows the Visma rate budget and nothing parked
    page.click("nav >> text=Overview")
    expect(page.locator("#parked-acme")).to_have_text("0")
    expect(page.locator("#conn-acme")).to_contain_text("Visma calls used this window")
    shot(page, artifacts, "10-overview-after")
