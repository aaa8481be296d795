"""Embedded SFTP server (asyncssh) for the demo and the tests.

Serves ``root`` chrooted, with password and public-key login for one user. The host key and the
client key are generated once per instance, so ``stop`` + ``start`` comes back on the same port
with the same key (used to test reconnects).

From async code::

    async with EmbeddedSftpServer(root) as srv:
        ...                                   # or: await srv.start(); ...; await srv.aclose()

From sync code (the server runs its own event loop in a background thread)::

    srv = EmbeddedSftpServer(root).start_in_thread()
    ...
    srv.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from pathlib import Path
from types import TracebackType

import asyncssh

from ml_connector.adapters.sftp.hostkeys import fingerprint, known_hosts_host


class _Handler(asyncssh.SSHServer):
    def __init__(self, owner: EmbeddedSftpServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok_user = secrets.compare_digest(username.encode(), self._owner.username.encode())
        ok_pass = secrets.compare_digest(password.encode(), self._owner.password.encode())
        return ok_user and ok_pass


class EmbeddedSftpServer:
    """An in-process SFTP server on ``host:port`` (``port=0`` picks a free port)."""

    def __init__(
        self,
        root: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "stampli",
        password: str | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_key = asyncssh.generate_private_key("ssh-ed25519")
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"EmbeddedSftpServer({self.username}@{self.host}:{self.port}, root={self.root})"

    # -- what a client needs ------------------------------------------------------------------

    @property
    def host_key_line(self) -> str:
        """known_hosts form: ``[127.0.0.1]:PORT ssh-ed25519 AAAA…``."""
        return f"{known_hosts_host(self.host, self.port)} {self.host_public_key}"

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA…`` (no comment)."""
        return " ".join(self._host_key.export_public_key("openssh").decode().split()[:2])

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint(self._host_key)

    @property
    def client_private_key(self) -> str:
        """The authorised client key, OpenSSH format, not encrypted."""
        return str(self._client_key.export_private_key("openssh").decode())

    def client_private_key_encrypted(self, passphrase: str) -> str:
        """The same client key, PKCS#8 PEM encrypted with ``passphrase`` (no bcrypt needed)."""
        return str(self._client_key.export_private_key("pkcs8-pem", passphrase).decode())

    @property
    def client_public_key(self) -> str:
        return " ".join(self._client_key.export_public_key("openssh").decode().split()[:2])

    # -- async lifecycle ----------------------------------------------------------------------

    async def start(self) -> EmbeddedSftpServer:
        if self._acceptor is not None:
            return self
        root = str(self.root).encode()
        self._acceptor = await asyncssh.create_server(
            lambda: _Handler(self),
            self.host,
            self.port,
            server_host_keys=[self._host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_public_key + "\n"),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root),
            allow_scp=False,
            config=None,
        )
        self.port = int(self._acceptor.get_port())
        return self

    async def aclose(self, *, abort: bool = False) -> None:
        """Close client connections (``abort``: drop them without a goodbye), then the listener."""
        conns = list(self._conns)
        for conn in conns:
            if abort:
                conn.abort()
            else:
                conn.close()
        for conn in conns:
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(conn.wait_closed(), timeout=5)
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
            await acceptor.wait_closed()
        await asyncio.sleep(0)

    async def __aenter__(self) -> EmbeddedSftpServer:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- sync lifecycle (own loop in a daemon thread) -----------------------------------------

    def start_in_thread(self) -> EmbeddedSftpServer:
        """Start on a private event loop in a background thread; returns once listening."""
        if self._thread is None:
            new_loop = asyncio.new_event_loop()
            thread = threading.Thread(target=new_loop.run_forever, name="embedded-sftp", daemon=True)
            thread.start()
            self._loop, self._thread = new_loop, thread
        loop = self._loop
        if loop is None:  # pragma: no cover  (set just above)
            raise RuntimeError("embedded SFTP server loop missing")
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=15)
        return self

    def stop(self, *, abort: bool = False, keep_thread: bool = False) -> None:
        """Stop a server started with ``start_in_thread``.

        ``keep_thread=True`` only closes the listener and connections, so ``start_in_thread``
        can bring it back on the same port quickly (a simulated outage).
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            raise RuntimeError("EmbeddedSftpServer.stop() is for start_in_thread(); use `await aclose()`")
        asyncio.run_coroutine_threadsafe(self.aclose(abort=abort), loop).result(timeout=15)
        if keep_thread:
            return
        asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        loop.close()
        self._loop = self._thread = None


async def _drain() -> None:
    """Let the SFTP handler tasks of closed connections finish, then cancel stragglers."""
    me = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not me]
    if pending:
        _done, still = await asyncio.wait(pending, timeout=2)
        for t in still:
            t.cancel()
        if still:
            await asyncio.wait(still, timeout=2)
