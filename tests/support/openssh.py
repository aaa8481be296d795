"""pytest plugin: a throwaway Debian OpenSSH server (internal-sftp, chrooted) on a loopback port.

The server itself is tests/support/sshd.py (shared with the benchmarks). A missing sshd, or not
running as root, fails the tests loudly: it is never a skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ml_connector.sim.sftp_server import EmbeddedSftpServer
from tests.support.sshd import OpenSshServer, SshdError, create_server

USER_PREFIX = "mlcsftp"


@pytest.fixture(scope="session")
def openssh_server() -> Iterator[OpenSshServer]:
    try:
        server = create_server(user_prefix=USER_PREFIX)
    except SshdError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        try:
            server.start()
        except SshdError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
    finally:
        server.remove()


@pytest.fixture
async def embedded_sftp(tmp_path: Path) -> AsyncIterator[EmbeddedSftpServer]:
    """The in-process asyncssh SFTP server on a free port, on the test's event loop."""
    async with EmbeddedSftpServer(tmp_path / "sftp-root") as srv:
        yield srv
