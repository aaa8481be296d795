"""A connection for the vendor-export tests: the real OpenSSH sshd, the Visma simulator over HTTP and
an SQLite ledger, configured by TOML as a user would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml_connector import retry, service
from ml_connector.pipeline.runtime import Runtime
from ml_connector.vendors.csvfile import parse
from tests.support.sshd import OpenSshServer
from tests.support.visma_sim import VismaSim

SFTP_ENV = "MLC_VENDORS_SFTP_PASSWORD"
VISMA_ENV = "MLC_VENDORS_VISMA_SECRET"


@dataclass
class VendorEnv:
    app: service.App
    sftp: OpenSshServer
    sim: VismaSim
    remote_root: str  # e.g. "/v_test_full_0"
    config_path: Path
    environ: dict[str, str]

    @property
    def rt(self) -> Runtime:
        return self.app.runtime("acme", actor="test")

    def folder(self, kind: str) -> Path:
        return self.sftp.root / self.remote_root.strip("/") / kind

    def files(self) -> list[str]:
        return sorted(p.name for p in self.folder("vendors").iterdir())

    def rows(self, name: str) -> list[dict[str, str]]:
        return parse((self.folder("vendors") / name).read_bytes())

    def put(self, kind: str, name: str, text: str) -> None:
        path = self.folder(kind) / name
        path.write_text(text, encoding="utf-8", newline="")
        os.chown(path, self.sftp.uid, self.sftp.uid)
        os.utime(path, (1_700_000_000, 1_700_000_000))


def config_text(sftp: OpenSshServer, sim: VismaSim, root: str, vendors: str = "") -> str:
    return f"""
ledger_url = "sqlite:///ledger.db"

[log]
level = "WARNING"

[connections.acme]
stampli_company_id = "C100234"

[connections.acme.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.user}"
password = "env:{SFTP_ENV}"
host_key = "{sftp.host_key_line.split(" ", 1)[1]}"
invoices_folder = "{root}/invoices"
payments_folder = "{root}/payments"
vendors_folder = "{root}/vendors"
min_file_age = 0
connect_timeout = 10

[connections.acme.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "env:{VISMA_ENV}"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"
timeout = 10

[connections.acme.mapping]
credit_account = "2460"
default_bank_account = "1920"

[connections.acme.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.acme.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.acme.vendors]
{vendors}
"""


@pytest.fixture
def venv(tmp_path: Path, openssh_server: OpenSshServer, visma_sim: VismaSim) -> Iterator[VendorEnv]:
    root = "/v_" + "".join(ch if ch.isalnum() else "_" for ch in tmp_path.name)
    for kind in ("invoices", "payments", "vendors"):
        openssh_server.mkdir(f"{root}/{kind}")
    path = tmp_path / "ml-connector.toml"
    path.write_text(config_text(openssh_server, visma_sim, root), encoding="utf-8")
    environ = {
        **os.environ,
        SFTP_ENV: openssh_server.password,
        VISMA_ENV: visma_sim.client_secret,
        service.SETTLE_AFTER_ENV: "0",
    }
    environ.pop("ML_CONNECTOR_DATABASE_URL", None)
    app = service.open_app(path, environ=environ)
    retry.set_testing(0.01)
    try:
        yield VendorEnv(app, openssh_server, visma_sim, root, path, environ)
    finally:
        retry.set_testing(None)
        app.close()
