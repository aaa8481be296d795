"""One view over both SFTP servers, so each behaviour is tested against OpenSSH and the embedded one."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml_connector import retry
from ml_connector.adapters.sftp import SftpSettings
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from tests.support.sshd import OpenSshServer


@dataclass
class Target:
    kind: str
    host: str
    port: int
    username: str
    password: str
    host_key_line: str
    host_key_fingerprint: str
    client_key: str
    client_key_enc: str
    passphrase: str
    root: Path  # server-side directory that is "/" for the client
    folder: str  # a fresh folder for this test, e.g. "/t3f2a…"
    kill: Callable[[], Awaitable[None]]
    restart: Callable[[], Awaitable[None]]
    chown: Callable[[Path], None]

    def settings(self, auth: str = "password", **kw: Any) -> SftpSettings:
        base: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "host_key": self.host_key_line,
            "connect_timeout": 5.0,
            "op_timeout": 5.0,
            "min_file_age": 0.0,
            "stability_wait": 0.0,
        }
        if auth == "password":
            base["password"] = self.password
        elif auth == "key":
            base["private_key"] = self.client_key
        elif auth == "key+passphrase":
            base["private_key"] = self.client_key_enc
            base["private_key_passphrase"] = self.passphrase
        base.update(kw)
        return SftpSettings(**base)

    def local(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def put(self, name: str, data: bytes, *, age: float | None = None, folder: str | None = None) -> Path:
        """Write a file into the test folder as the server sees it; ``age`` backdates its mtime."""
        path = self.local(folder or self.folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.chown(path)
        if age is not None:
            t = path.stat().st_mtime - age
            os.utime(path, (t, t))
        return path

    def mkdir(self, remote: str) -> Path:
        path = self.local(remote)
        path.mkdir(parents=True, exist_ok=True)
        p = path
        while p != self.root:
            self.chown(p)
            p = p.parent
        return path


@pytest.fixture(autouse=True)
def fast_backoff() -> Iterator[None]:
    """Shrink every retry delay 100× for the SFTP tests, restore afterwards."""
    retry.set_testing(0.01)
    yield
    retry.set_testing(None)


def _openssh_target(srv: OpenSshServer) -> Target:
    if not srv.is_running():
        srv.start()
    folder = f"/t{uuid.uuid4().hex[:10]}"

    async def kill() -> None:
        srv.kill()

    async def restart() -> None:
        await asyncio.to_thread(srv.start)

    def chown(p: Path) -> None:
        os.chown(p, srv.uid, srv.uid)

    t = Target(
        kind="openssh",
        host=srv.host,
        port=srv.port,
        username=srv.user,
        password=srv.password,
        host_key_line=srv.host_key_line,
        host_key_fingerprint=srv.host_key_fingerprint,
        client_key=srv.client_key_text,
        client_key_enc=srv.client_key_enc_text,
        passphrase=srv.client_key_passphrase,
        root=srv.root,
        folder=folder,
        kill=kill,
        restart=restart,
        chown=chown,
    )
    t.mkdir(folder)
    return t


def _embedded_target(srv: EmbeddedSftpServer) -> Target:
    folder = f"/t{uuid.uuid4().hex[:10]}"

    async def kill() -> None:
        await srv.aclose(abort=True)

    async def restart() -> None:
        await srv.start()

    t = Target(
        kind="embedded",
        host=srv.host,
        port=srv.port,
        username=srv.username,
        password=srv.password,
        host_key_line=srv.host_key_line,
        host_key_fingerprint=srv.host_key_fingerprint,
        client_key=srv.client_private_key,
        client_key_enc=srv.client_private_key_encrypted("embedded-pass"),
        passphrase="embedded-pass",
        root=srv.root,
        folder=folder,
        kill=kill,
        restart=restart,
        chown=lambda p: None,
    )
    t.mkdir(folder)
    return t


@pytest.fixture(params=["openssh", "embedded"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    if request.param == "openssh":
        srv: OpenSshServer = request.getfixturevalue("openssh_server")
        yield _openssh_target(srv)
        if not srv.is_running():
            srv.start()
    else:
        async with EmbeddedSftpServer(tmp_path / "sftp-root") as emb:
            yield _embedded_target(emb)
