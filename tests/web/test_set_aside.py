"""An operator sets a rejected file aside from the dashboard's Failures page (issue 19, point 1);
a viewer cannot. The file is a real bad export read by the pipeline's intake into the ledger."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector import service
from ml_connector.pipeline.intake import IntakeStats, process_file
from ml_connector.service import accounts
from ml_connector.web.server import uvicorn_config
from tests.config.samples import BASE, ENV
from tests.web.conftest import ServerThread, Web

PASSWORD = "a-long-enough-password"
REMOTE = "/outbound/invoices/stampli_invoices_C100234_20250331T071500Z_0001.csv"


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[service.App, str, int]]:
    cfg = tmp_path / "ml-connector.toml"
    cfg.write_text(f'ledger_url = "sqlite:///{tmp_path / "ledger.db"}"\n{BASE}', encoding="utf-8")
    app = service.open_app(cfg, environ=ENV)
    rt = app.runtime("acme")
    bad = rt.archive_dir / "bad.csv"
    bad.write_text("stampliInvoiceId,nothing,else\r\n1,2,3\r\n", encoding="utf-8")
    file_id, _ = app.ledger.record_file(
        connection="acme",
        kind="invoices",
        remote_path=REMOTE,
        size=bad.stat().st_size,
        mtime=None,
        sha256="0" * 64,
        archive_path=str(bad),
        actor="test",
    )
    assert process_file(rt, file_id, bad, REMOTE, "invoices", "0" * 64, IntakeStats()) == "rejected"
    (failure,) = app.ledger.open_failures("acme")
    accounts.add_user(app.ledger, "olga", "operator", PASSWORD)
    accounts.add_user(app.ledger, "vera", "viewer", PASSWORD)
    server = ServerThread(uvicorn_config(app, "127.0.0.1", 0)).start()
    yield app, f"http://127.0.0.1:{server.port}", int(failure.id)
    server.stop()
    app.close()


def _page_token(web: Web) -> str:
    page = web.http.get("/failures")
    assert page.status_code == 200
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def test_operator_sets_a_rejected_file_aside(dashboard: tuple[service.App, str, int]) -> None:
    app, base, failure_id = dashboard
    viewer = Web(base)
    assert viewer.login("vera", PASSWORD).status_code == 303
    page = viewer.http.get("/failures").text
    assert f'id="failure-{failure_id}"' in page and "set-aside-selected" not in page
    refused = viewer.http.post("/failures/set-aside", data={"csrf_token": viewer.csrf(), "ids": failure_id})
    assert refused.status_code == 403 and len(app.ledger.open_failures("acme")) == 1
    viewer.close()

    web = Web(base)
    assert web.login("olga", PASSWORD).status_code == 303
    page = web.http.get("/failures").text
    assert "set-aside-selected" in page and REMOTE in page  # the failure names the file
    done = web.http.post("/failures/set-aside", data={"csrf_token": _page_token(web), "ids": failure_id})
    assert done.status_code == 200 and 'id="set-aside-result"' in done.text and REMOTE in done.text
    assert app.ledger.open_failures("acme") == []
    (row,) = app.ledger.files_with_status("acme", ["set_aside"])
    assert row.remote_path == REMOTE
    trail = app.ledger.audit_trail("file", REMOTE)
    assert any(a.action == "set_aside" and a.actor == "web:olga" for a in trail)
    again = web.http.post("/failures/set-aside", data={"csrf_token": _page_token(web), "ids": failure_id})
    assert "Not set aside" in again.text
    web.close()
