"""A connection for the coding-list tests: the real OpenSSH sshd, the Visma simulator over HTTP and an
SQLite ledger, configured by TOML as a user would (projects mapped to SUBACCOUNT segment 2)."""

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
from tests.vendors.conftest import SFTP_ENV, VISMA_ENV, config_text

MASTERDATA = """
[connections.acme.masterdata]
enabled = true
folder = "{root}/masterdata"
timezone = "UTC"
full_at = "02:00"

[connections.acme.mapping.project_map]
"P-NONE" = "00"
"P-PAYROLL" = "09"
"P-AALESUND" = "14"
"P-LATER" = "77"
"""


@dataclass
class CodingEnv:
    app: service.App
    sftp: OpenSshServer
    sim: VismaSim
    remote_root: str
    config_path: Path
    environ: dict[str, str]

    @property
    def rt(self) -> Runtime:
        return self.app.runtime("acme", actor="test")

    def folder(self, kind: str = "masterdata") -> Path:
        return self.sftp.root / self.remote_root.strip("/") / kind

    def files(self, kind: str = "masterdata") -> list[str]:
        return sorted(p.name for p in self.folder(kind).iterdir())

    def rows(self, name: str, kind: str = "masterdata") -> list[dict[str, str]]:
        return parse((self.folder(kind) / name).read_bytes())

    def put(self, kind: str, name: str, text: str) -> None:
        path = self.folder(kind) / name
        path.write_text(text, encoding="utf-8", newline="")
        os.chown(path, self.sftp.uid, self.sftp.uid)
        os.utime(path, (1_700_000_000, 1_700_000_000))


@pytest.fixture
def cenv(tmp_path: Path, openssh_server: OpenSshServer, visma_sim: VismaSim) -> Iterator[CodingEnv]:
    root = "/m_" + "".join(ch if ch.isalnum() else "_" for ch in tmp_path.name)
    for kind in ("invoices", "payments", "vendors", "masterdata"):
        openssh_server.mkdir(f"{root}/{kind}")
    text = config_text(openssh_server, visma_sim, root).replace(
        'credit_account = "2460"\n', 'credit_account = "2460"\nproject_segment_id = 2\n', 1
    )
    path = tmp_path / "ml-connector.toml"
    path.write_text(text + MASTERDATA.format(root=root), encoding="utf-8")
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
        yield CodingEnv(app, openssh_server, visma_sim, root, path, environ)
    finally:
        retry.set_testing(None)
        app.close()
