"""Open one pinned asyncssh SFTP session and translate library errors into SourceError.

Everything asyncssh/OSError raises stops here: callers only see ``TransientSourceError``
(timeouts, refused or dropped connections: retry), ``FatalSourceError`` (login refused, missing
folder, permission denied), ``HostKeyMismatchError`` and ``ConfigError`` (unreadable key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from ml_connector.adapters.sftp.hostkeys import HostKeyPin, fingerprint
from ml_connector.adapters.sftp.settings import SftpSettings
from ml_connector.errors import (
    ConfigError,
    ConnectionRefusedSourceError,
    FatalSourceError,
    HostKeyMismatchError,
    NoSuchRemotePathError,
    SourceError,
    TransientSourceError,
)

T = TypeVar("T")
# Masks the account's secrets (and any the redactor knows) in library messages: redaction.redactor.
Scrubber = Callable[[str], str]
log = logging.getLogger("ml_connector.sftp")

PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def encryption_algs() -> list[str]:
    """aes-gcm first (15-50 % faster than chacha20, stack.md §3), then asyncssh's defaults."""
    from asyncssh.encryption import get_default_encryption_algs

    rest = [a.decode() for a in get_default_encryption_algs()]
    return list(PREFERRED_CIPHERS) + [a for a in rest if a not in PREFERRED_CIPHERS]


def load_client_key(settings: SftpSettings) -> asyncssh.SSHKey | None:
    if not settings.private_key:
        return None
    try:
        return asyncssh.import_private_key(settings.private_key, settings.private_key_passphrase)
    except asyncssh.KeyImportError as exc:
        reason = str(exc)
        if "bcrypt" in reason:
            raise ConfigError(
                "sftp private_key is an encrypted OpenSSH-format key, which needs the 'bcrypt' package "
                "(pip install 'asyncssh[bcrypt]'); or convert it: ssh-keygen -p -m PKCS8 -f KEYFILE"
            ) from None
        if "assphrase" in reason or "decrypt" in reason.lower():
            raise ConfigError(
                "sftp private_key could not be decrypted: wrong or missing passphrase"
            ) from None
        raise ConfigError("sftp private_key is not a readable private key (PEM or OpenSSH format)") from None


class _PinnedClient(asyncssh.SSHClient):
    def __init__(self, pin: HostKeyPin) -> None:
        self.pin = pin
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        return self.pin.accepts(host, addr, port, key)


@dataclass
class Session:
    conn: asyncssh.SSHClientConnection
    sftp: asyncssh.SFTPClient
    host_key_fingerprint: str
    host_key_type: str
    cipher: str

    async def close(self) -> None:
        try:
            self.sftp.exit()
            self.conn.close()
            await asyncio.wait_for(self.conn.wait_closed(), timeout=5)
        except (OSError, asyncssh.Error, TimeoutError):  # closing a dead session: nothing to do
            pass


async def open_session(
    settings: SftpSettings, pin: HostKeyPin, client_key: asyncssh.SSHKey | None, scrub: Scrubber
) -> Session:
    """One attempt: TCP connect, key exchange, host-key check, login, SFTP subsystem."""
    ep = settings.endpoint
    client = _PinnedClient(pin)
    options: dict[str, object] = {}
    algs = pin.host_key_algs()
    if algs:
        options["server_host_key_algs"] = algs

    def _no_trusted_keys(_h: str, _a: str, _p: int | None) -> tuple[list[str], list[str], list[str]]:
        return [], [], []  # every key goes through _PinnedClient.validate_host_public_key

    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(
                settings.host,
                settings.port,
                username=settings.username,
                password=settings.password,
                client_keys=[client_key] if client_key is not None else None,
                agent_path=None,
                config=None,
                known_hosts=_no_trusted_keys,
                client_factory=lambda: client,
                encryption_algs=encryption_algs(),
                connect_timeout=settings.connect_timeout,
                login_timeout=settings.connect_timeout,
                keepalive_interval=15,
                keepalive_count_max=3,
                gss_auth=False,
                **options,
            ),
            timeout=settings.connect_timeout,
        )
    except asyncssh.HostKeyNotVerifiable:
        seen = client.presented
        got = f"{seen.get_algorithm()} {fingerprint(seen)}" if seen is not None else "an unverifiable key"
        raise HostKeyMismatchError(
            f"{ep}: host key mismatch: the server presented {got}, but the pinned key is {pin.expected}. "
            "Not connecting. If the server's key was changed on purpose, verify the new fingerprint "
            "with Stampli out of band, then update host_key (ml-connector sftp fingerprint HOST:PORT).",
            context={"endpoint": ep},
        ) from None
    except asyncssh.PermissionDenied:
        how = " and ".join(
            m
            for m, on in (("private key", client_key is not None), ("password", bool(settings.password)))
            if on
        )
        raise FatalSourceError(
            f"{ep}: login refused for user {settings.username!r} ({how})", context={"endpoint": ep}
        ) from None
    except TimeoutError:
        raise TransientSourceError(
            f"{ep}: no SSH login within {settings.connect_timeout:g}s", context={"endpoint": ep}
        ) from None
    except ConnectionRefusedError:
        raise ConnectionRefusedSourceError(
            f"{ep}: cannot connect: connection refused: nothing accepts SSH connections at host "
            f"{settings.host!r} port {settings.port}; check {settings.config_key}.host and "
            f"{settings.config_key}.port",
            context={"endpoint": ep},
        ) from None
    except (OSError, asyncssh.Error) as exc:
        raise TransientSourceError(
            f"{ep}: cannot connect: {scrub(str(exc)) or type(exc).__name__}", context={"endpoint": ep}
        ) from None
    try:
        sftp = await asyncio.wait_for(conn.start_sftp_client(), timeout=settings.op_timeout)
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        conn.close()
        raise TransientSourceError(
            f"{ep}: SFTP subsystem did not start: {scrub(str(exc)) or type(exc).__name__}"
        ) from None
    key = conn.get_server_host_key()
    cipher = str(conn.get_extra_info("send_cipher") or "")
    session = Session(
        conn=conn,
        sftp=sftp,
        host_key_fingerprint=fingerprint(key) if key is not None else "",
        host_key_type=key.get_algorithm() if key is not None else "",
        cipher=cipher,
    )
    log.info(
        "sftp connected to %s as %s (host key %s, cipher %s)",
        ep,
        settings.username,
        session.host_key_fingerprint,
        cipher,
    )
    return session


def translate(exc: BaseException, what: str, ep: str, scrub: Scrubber) -> SourceError:
    """Map an asyncssh/OSError/timeout raised by an SFTP operation to our error tree."""
    msg = scrub(str(exc)) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return TransientSourceError(f"{ep}: {what} timed out", context={"endpoint": ep})
    if isinstance(exc, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
        return TransientSourceError(f"{ep}: {what}: connection lost: {msg}", context={"endpoint": ep})
    if isinstance(exc, asyncssh.SFTPNoSuchFile | asyncssh.SFTPNoSuchPath):
        return NoSuchRemotePathError(f"{ep}: {what}: no such file or folder", context={"endpoint": ep})
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return FatalSourceError(f"{ep}: {what}: permission denied", context={"endpoint": ep})
    if isinstance(exc, asyncssh.SFTPError):
        return FatalSourceError(f"{ep}: {what}: {msg}", context={"endpoint": ep})
    return TransientSourceError(f"{ep}: {what}: {msg}", context={"endpoint": ep})


RECOVERABLE: tuple[type[BaseException], ...] = (OSError, asyncssh.Error, TimeoutError, EOFError)


async def with_timeout(aw: Awaitable[T], timeout: float) -> T:
    return await asyncio.wait_for(aw, timeout=timeout)
