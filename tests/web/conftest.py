"""A dashboard world for the web tests: the embedded SFTP server with a generated Stampli export, the
Visma simulator (contract-checked), a configuration with secrets by env reference, one cycle run
(two invoices parked for the missing cost center 0450), two users, and the dashboard served by
uvicorn on loopback in a thread (the same ``uvicorn_config`` that ``serve`` and ``dashboard`` use).

``Web`` is a small HTTP client that logs in through the login form, as a browser does.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from ml_connector import service
from ml_connector.demo.generate import MISSING_DEPARTMENT, Export, generate
from ml_connector.service import accounts
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma import SimulatorOptions, SimulatorServer
from ml_connector.web.server import uvicorn_config
from tests.support.contract import load_validator
from tests.support.visma_sim import VismaSim

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
SFTP_ENV = "MLC_WEB_SFTP_PASSWORD"
VISMA_ENV = "MLC_WEB_VISMA_SECRET"
PERIOD = "2025-03"
MISSING = MISSING_DEPARTMENT.rjust(4, "0")
N_INVOICES = 12
N_MISSING = 2


def _write(folder: Path, files: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 600
    for name, text in files:
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="")
        os.utime(path, (old, old))


def _config(sftp: EmbeddedSftpServer, sim: SimulatorServer) -> str:
    return f"""[log]
level = "WARNING"

[connections.acme]
stampli_company_id = "C100234"
poll_interval = 300
profile = "canonical"

[connections.acme.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.username}"
password = "env:{SFTP_ENV}"
host_key = "{sftp.host_public_key}"
invoices_folder = "/outbound/invoices"
payments_folder = "/outbound/payments"
min_file_age = 0

[connections.acme.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "env:{VISMA_ENV}"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"

[connections.acme.mapping]
credit_account = "2460"
cost_center_field = "department"
cost_center_segment_id = 1
cost_center_length = 4
default_bank_account = "1920"

[connections.acme.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.acme.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.acme.mapping.bank_accounts]
"DNB-1503.12.34567" = "1920"
"DNB-EUR-1503.99.12345" = "1921"
"SEB-5000.00.58398" = "1920"

[connections.acme.posting]
release = true
closed_period_policy = "park"
"""


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServerThread:
    """uvicorn in a background thread (Playwright's sync API must own the test thread)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.sock = free_socket()
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="dashboard", daemon=True
        )

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass
class User:
    name: str
    role: str
    password: str


@dataclass
class World:
    root: Path
    app: service.App
    sim: VismaSim
    sftp: EmbeddedSftpServer
    export: Export
    base_url: str
    users: dict[str, User]
    secret_values: list[str] = field(default_factory=list)

    def parked_invoices(self) -> list[dict[str, Any]]:
        return [d.as_dict() for d in self.app.ledger.all_documents("acme") if d.status == "parked"]

    def client(self) -> Web:
        return Web(self.base_url)

    def login(self, who: str) -> Web:
        user = self.users[who]
        web = Web(self.base_url)
        resp = web.login(user.name, user.password)
        assert resp.status_code == 303, (resp.status_code, resp.text[:500])
        return web


class Web:
    """An HTTP client that behaves like the browser: form login, cookies, CSRF token from /api/me."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx2.Client(base_url=base_url, timeout=60, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def login_token(self) -> str:
        page = self.http.get("/login")
        assert page.status_code == 200
        m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert m, "the login form carries a CSRF token"
        return m.group(1)

    def login(self, username: str, password: str) -> httpx2.Response:
        token = self.login_token()
        return self.http.post(
            "/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"}
        )

    def csrf(self) -> str:
        me = self.http.get("/api/me")
        assert me.status_code == 200, me.text
        return str(me.json()["csrf_token"])

    @property
    def session_cookie(self) -> str:
        return str(self.http.cookies.get("mlc_session"))


def build_world(root: Path) -> Iterator[World]:
    export = generate(N_INVOICES, missing=N_MISSING, seed=7)
    stampli = root / "stampli"
    _write(stampli / "outbound" / "invoices", export.invoices_csv)
    _write(stampli / "outbound" / "payments", export.payments_csv)
    (stampli / "inbound" / "vendors").mkdir(parents=True)  # as Stampli's account has it (check tests it)
    sftp_password = "sftp-" + secrets.token_urlsafe(12)
    visma_secret = "visma-" + secrets.token_urlsafe(16)
    sftp = EmbeddedSftpServer(stampli, password=sftp_password).start_in_thread()
    server = SimulatorServer(SimulatorOptions(seed="demo", client_secret=visma_secret)).start_in_thread()
    sim = VismaSim(server, load_validator())
    app: service.App | None = None
    dashboard: ServerThread | None = None
    try:
        work = root / "connector"
        work.mkdir()
        config = work / "ml-connector.toml"
        config.write_text(_config(sftp, server), encoding="utf-8")
        env = {**os.environ, SFTP_ENV: sftp_password, VISMA_ENV: visma_secret}
        app = service.open_app(config, environ=env, settle_after=timedelta(0))
        [first] = asyncio.run(service.run_once(app, "acme"))
        assert first.status == "ok", first.errors
        assert first.posting.parked == N_MISSING
        users = {
            "operator": User("olga", "operator", "op-" + secrets.token_urlsafe(12)),
            "viewer": User("vera", "viewer", "view-" + secrets.token_urlsafe(12)),
            "target": User("tom", "operator", "tom-" + secrets.token_urlsafe(12)),
        }
        for u in users.values():
            accounts.add_user(app.ledger, u.name, u.role, u.password)
        dashboard = ServerThread(uvicorn_config(app, "127.0.0.1", 0)).start()
        yield World(
            root=root,
            app=app,
            sim=sim,
            sftp=sftp,
            export=export,
            base_url=f"http://127.0.0.1:{dashboard.port}",
            users=users,
            secret_values=[sftp_password, visma_secret, *(u.password for u in users.values())],
        )
    finally:
        if dashboard is not None:
            dashboard.stop()
        if app is not None:
            app.close()
        sim.close()
        sftp.stop()
    problems = [str(v) for v in sim.contract_violations()]
    assert not problems, "Visma contract drift:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
