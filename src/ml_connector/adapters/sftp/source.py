"""SFTP source: list ready files, download with sha256, upload atomically, optionally archive.

    async with SftpSource(settings) as src:
        for f in await src.list_ready("/outbound/invoices", "*.csv"):
            got = await src.download(f, Path("work"))

Every operation retries ``TransientSourceError`` (timeouts, dropped connections) with the one
policy in ``ml_connector.retry`` and reconnects as needed. A dropped download resumes at the byte
where it stopped, as long as the remote size and mtime are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import posixpath
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import asyncssh

from ml_connector.adapters.sftp.connection import (
    RECOVERABLE,
    Session,
    load_client_key,
    open_session,
    translate,
)
from ml_connector.adapters.sftp.guard import candidate_matcher, split_by_age, stable
from ml_connector.adapters.sftp.hostkeys import HostKeyPin
from ml_connector.adapters.sftp.settings import SftpSettings
from ml_connector.domain.files import Downloaded, RemoteFile
from ml_connector.errors import ConnectionRefusedSourceError, FatalSourceError, TransientSourceError
from ml_connector.redaction import redactor
from ml_connector.retry import SFTP_POLICY, SFTP_REFUSED_POLICY, RetryPolicy, retry_async

__all__ = ["Downloaded", "RemoteFile", "SftpSource"]

T = TypeVar("T")
log = logging.getLogger("ml_connector.sftp")

CHUNK = 1 << 20  # bytes per upload write request
READ_BLOCK = 255 * 1024  # bytes per read request: the most OpenSSH answers in one (its limits extension)
READ_SEGMENT = 32 * READ_BLOCK  # bytes asked for at once: at most this much waits out of order


class _RemoteChanged(Exception):
    pass


def _mtime(attrs: asyncssh.SFTPAttrs) -> datetime:
    return datetime.fromtimestamp(int(attrs.mtime or 0), tz=UTC)


class _StillRefused(Exception):
    """Carries the refused-connection error past the slow retry of the first connect."""

    def __init__(self, error: ConnectionRefusedSourceError) -> None:
        super().__init__(str(error))
        self.error = error


class SftpSource:
    """One SFTP account. Use as ``async with SftpSource(settings) as src``."""

    def __init__(self, settings: SftpSettings, *, policy: RetryPolicy = SFTP_POLICY) -> None:
        self.settings = settings
        self.policy = policy
        self._pin = HostKeyPin(settings.host_key)  # ConfigError now, not at connect time
        self._scrub = redactor(settings.password, settings.private_key_passphrase)
        self._client_key: asyncssh.SSHKey | None = None
        self._session: Session | None = None

    def __repr__(self) -> str:
        return f"SftpSource({self.settings.username}@{self.settings.endpoint})"

    # -- connection ---------------------------------------------------------------------------

    async def __aenter__(self) -> SftpSource:
        self._client_key = load_client_key(self.settings)
        try:
            await retry_async(
                self._first_session,
                policy=self.policy,
                retry_on=(TransientSourceError,),
                what=f"sftp connect {self.settings.endpoint}",
            )
        except _StillRefused as gave_up:
            raise gave_up.error from None
        return self

    async def _first_session(self) -> Session:
        """The first session. A refused connection is not a timeout: before any session succeeded
        it usually means a wrong host or port, so it gets a few quick tries, says so, and gives up
        within seconds. Once connected, a refusal (a server restarting) is retried like any drop."""
        ep = self.settings.endpoint

        def say(attempt: int, exc: BaseException, delay: float) -> None:
            log.warning("sftp %s: connection refused (try %d); trying again in %.1fs", ep, attempt, delay)

        try:
            return await retry_async(
                self._ensure,
                policy=SFTP_REFUSED_POLICY,
                retry_on=(ConnectionRefusedSourceError,),
                what=f"sftp connect {ep}",
                on_retry=say,
            )
        except ConnectionRefusedSourceError as exc:
            message = f"{exc.message} (gave up after {SFTP_REFUSED_POLICY.attempts} tries)"
            raise _StillRefused(ConnectionRefusedSourceError(message, context=exc.context)) from None

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _ensure(self) -> Session:
        if self._session is None:
            self._session = await open_session(self.settings, self._pin, self._client_key, self._scrub)
        return self._session

    async def _drop(self) -> None:
        await self.close()

    @property
    def cipher(self) -> str:
        """The negotiated cipher ('' when not connected)."""
        return self._session.cipher if self._session else ""

    @property
    def host_key_fingerprint(self) -> str:
        """The fingerprint of the (pinned) key the server presented ('' when not connected)."""
        return self._session.host_key_fingerprint if self._session else ""

    async def _op(self, what: str, aw: Awaitable[T]) -> T:
        """Await one SFTP request with the operation timeout; translate and drop on failure."""
        try:
            return await asyncio.wait_for(aw, timeout=self.settings.op_timeout)
        except RECOVERABLE as exc:
            err = translate(exc, what, self.settings.endpoint, self._scrub)
            if isinstance(err, TransientSourceError):
                await self._drop()
            raise err from None

    async def _retrying(self, what: str, fn: Callable[[Session], Awaitable[T]]) -> T:
        async def attempt() -> T:
            return await fn(await self._ensure())

        return await retry_async(attempt, policy=self.policy, retry_on=(TransientSourceError,), what=what)

    # -- listing ------------------------------------------------------------------------------

    async def _list(self, folder: str, pattern: str | Sequence[str]) -> dict[str, RemoteFile]:
        candidate = candidate_matcher(pattern, self.settings.ignore_suffixes)
        prefix = posixpath.join(folder, "")  # "folder/": the same paths as posixpath.join, per name
        regular = asyncssh.FILEXFER_TYPE_REGULAR

        async def go(s: Session) -> dict[str, RemoteFile]:
            names = await self._op(f"list {folder}", s.sftp.readdir(folder))
            out: dict[str, RemoteFile] = {}
            # Per name only what the guard needs: a folder of processed files is listed every poll.
            for n in names:
                attrs = n.attrs
                name = n.filename if isinstance(n.filename, str) else n.filename.decode()
                if attrs.type != regular or not candidate(name):
                    continue
                path = prefix + name
                out[path] = RemoteFile(path, int(attrs.size or 0), _mtime(attrs))
            return out

        return await self._retrying(f"sftp list {self.settings.endpoint}:{folder}", go)

    async def list_ready(self, folder: str, pattern: str | Sequence[str] = "*") -> list[RemoteFile]:
        """Regular files in ``folder`` matching ``pattern`` (or any of several) that passed the
        partial-file guard; one directory listing however many patterns.

        Ignored: dot-files and names ending in ``settings.ignore_suffixes``. A file counts as ready
        when its mtime is ``min_file_age`` old, or when size and mtime are unchanged in a second
        listing ``stability_wait`` seconds later. Sorted by path.
        """
        first = await self._list(folder, pattern)
        old, young = split_by_age(first, datetime.now(UTC), self.settings.min_file_age)
        ready = list(old)
        if young:
            await asyncio.sleep(self.settings.stability_wait)
            second = await self._list(folder, pattern)
            ready += stable(young, second)
            skipped = len(young) - (len(ready) - len(old))
            if skipped:
                log.info("sftp %s: %d file(s) still changing, left for a later poll", folder, skipped)
        return sorted(ready, key=lambda f: f.path)

    # -- download -----------------------------------------------------------------------------

    async def download(
        self,
        remote: RemoteFile,
        dest_dir: Path,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Downloaded:
        """Stream ``remote`` to ``dest_dir/<name>``, hashing while writing.

        Writes ``<name>.part`` and renames it when complete. After a dropped connection it
        reconnects and resumes at the last written byte (bounded by the retry policy). If the
        remote size or mtime changed, it raises ``TransientSourceError`` so a later poll
        picks the file up again. ``on_progress(done, total)`` is called after each chunk.
        """
        dest_dir.mkdir(parents=True, exist_ok=True)
        final = dest_dir / remote.name
        part = dest_dir / (remote.name + ".part")
        hasher = hashlib.sha256()
        written = 0
        ep = self.settings.endpoint

        async def check_unchanged(s: Session) -> None:
            attrs = await self._op(f"stat {remote.path}", s.sftp.stat(remote.path))
            if int(attrs.size or 0) != remote.size or _mtime(attrs) != remote.mtime:
                raise _RemoteChanged

        try:
            with part.open("wb") as out:

                async def attempt(s: Session) -> None:
                    nonlocal written
                    await check_unchanged(s)
                    # asyncssh keeps many read requests in flight (as `sftp get` does) and hands blocks
                    # over as they arrive; they are hashed and written strictly in order, so `written`
                    # is always a prefix a retry can resume from. Reading a segment at a time bounds
                    # what waits out of order to one segment.
                    f = await self._op(
                        f"open {remote.path}", s.sftp.open(remote.path, "rb", block_size=READ_BLOCK)
                    )
                    try:
                        while written < remote.size:
                            end = min(remote.size, written + READ_SEGMENT)
                            early: dict[int, bytes] = {}
                            blocks = await self._op(
                                f"read {remote.path}", f.read_parallel(end - written, written)
                            )
                            while (
                                item := await self._op(f"read {remote.path}", anext(blocks, None))
                            ) is not None:
                                early[item[0]] = item[1]
                                while written in early:
                                    chunk = early.pop(written)
                                    out.write(chunk)
                                    hasher.update(chunk)
                                    written += len(chunk)
                                    if on_progress is not None:
                                        on_progress(written, remote.size)
                            if written != end:
                                raise _RemoteChanged  # shorter than listed: it changed
                    finally:
                        if self._session is s:
                            with contextlib.suppress(*RECOVERABLE):
                                await asyncio.wait_for(f.close(), timeout=self.settings.op_timeout)
                    await check_unchanged(s)

                await self._retrying(f"sftp download {ep}:{remote.path}", attempt)
        except _RemoteChanged:
            part.unlink(missing_ok=True)
            raise TransientSourceError(
                f"{ep}: {remote.path} changed while downloading; it will be picked up again once stable",
                context={"endpoint": ep, "path": remote.path},
            ) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        part.replace(final)
        digest = hasher.hexdigest()
        log.info("sftp downloaded %s:%s (%d bytes, sha256 %s)", ep, remote.path, written, digest)
        return Downloaded(remote=remote, local_path=final, sha256=digest, size=written)

    # -- upload, archive ----------------------------------------------------------------------

    async def _rename(self, s: Session, src: str, dst: str) -> None:
        """posix-rename (atomic, replaces ``dst``) when the server has it, else plain rename."""

        async def go() -> None:
            try:
                await s.sftp.posix_rename(src, dst)
            except asyncssh.SFTPOpUnsupported:
                await s.sftp.rename(src, dst)

        await self._op(f"rename {src}", go())

    async def upload_atomic(self, data: bytes | Path, folder: str, name: str) -> str:
        """Write ``folder/name.tmp``, then rename it to ``folder/name``. Returns the final path."""
        final = posixpath.join(folder, name)
        tmp = final + ".tmp"

        async def attempt(s: Session) -> str:
            f = await self._op(f"create {tmp}", s.sftp.open(tmp, "wb"))
            try:
                if isinstance(data, bytes):
                    for off in range(0, len(data), CHUNK):
                        await self._op(f"write {tmp}", f.write(data[off : off + CHUNK], off))
                else:
                    with data.open("rb") as src:
                        off = 0
                        while chunk := src.read(CHUNK):
                            await self._op(f"write {tmp}", f.write(chunk, off))
                            off += len(chunk)
            finally:
                if self._session is s:
                    await self._op(f"close {tmp}", f.close())
            await self._rename(s, tmp, final)
            return final

        path = await self._retrying(f"sftp upload {self.settings.endpoint}:{final}", attempt)
        log.info("sftp uploaded %s:%s", self.settings.endpoint, path)
        return path

    def archive_target(self, remote: RemoteFile, now: datetime | None = None) -> str | None:
        """Where ``archive`` would move ``remote``; ``None`` when archiving is off.

        ``archive_folder`` may be absolute or relative to the file's folder, and may use
        ``{yyyy}``, ``{MM}`` and ``{dd}`` (UTC date of the move).
        """
        folder = self.settings.archive_folder
        if folder is None:
            return None
        now = now or datetime.now(UTC)
        folder = (
            folder.replace("{yyyy}", f"{now:%Y}").replace("{MM}", f"{now:%m}").replace("{dd}", f"{now:%d}")
        )
        base = posixpath.dirname(remote.path)
        return posixpath.normpath(posixpath.join(base, folder, remote.name))

    async def archive(self, remote: RemoteFile) -> str:
        """Move ``remote`` into the archive folder and return its new path.

        Off by default: when ``settings.archive_folder`` is unset this is a no-op that returns
        ``remote.path`` unchanged, so nothing on Stampli's server is ever moved unless the
        configuration says so. Nothing is ever deleted. An existing file of the same name in
        the archive is not replaced: the moved file gets a UTC timestamp suffix.
        """
        target = self.archive_target(remote)
        if target is None:
            log.debug("sftp archive off: %s stays in place", remote.path)
            return remote.path

        async def attempt(s: Session) -> str:
            dst = target
            if not await self._op(f"stat {remote.path}", s.sftp.exists(remote.path)):
                if await self._op(f"stat {dst}", s.sftp.exists(dst)):
                    return dst  # a previous attempt moved it before the connection dropped
                raise FatalSourceError(f"{self.settings.endpoint}: {remote.path}: no such file to archive")
            await self._op(
                f"mkdir {posixpath.dirname(dst)}", s.sftp.makedirs(posixpath.dirname(dst), exist_ok=True)
            )
            if await self._op(f"stat {dst}", s.sftp.exists(dst)):
                stem, ext = posixpath.splitext(dst)
                dst = f"{stem}.{datetime.now(UTC):%Y%m%dT%H%M%SZ}{ext}"
            await self._op(f"rename {remote.path}", s.sftp.rename(remote.path, dst))
            return dst

        path = await self._retrying(f"sftp archive {self.settings.endpoint}:{remote.path}", attempt)
        log.info("sftp archived %s -> %s", remote.path, path)
        return path

    # -- health -------------------------------------------------------------------------------

    async def ping(self, folder: str) -> dict[str, Any]:
        """Login, host-key check and one listing of ``folder``, for ``ml-connector check``."""
        started = asyncio.get_running_loop().time()

        async def go(s: Session) -> dict[str, Any]:
            names = await self._op(f"list {folder}", s.sftp.listdir(folder))
            return {
                "endpoint": self.settings.endpoint,
                "username": self.settings.username,
                "host_key": s.host_key_fingerprint,
                "host_key_type": s.host_key_type,
                "cipher": s.cipher,
                "folder": folder,
                "entries": len([n for n in names if n not in (".", "..")]),
                "elapsed_s": round(asyncio.get_running_loop().time() - started, 3),
            }

        return await self._retrying(f"sftp ping {self.settings.endpoint}", go)

    async def folder_problem(self, folder: str, *, writable: bool = False) -> str | None:
        """What keeps ``folder`` from being used, for ``ml-connector check`` (None: it exists, and,
        when ``writable``, an empty file can be created in it and removed again, as an upload does)."""

        async def go(s: Session) -> str | None:
            try:
                if not await self._op(f"stat {folder}", s.sftp.isdir(folder)):
                    return "does not exist (or is not a folder)"
                if writable:
                    probe = f"{folder.rstrip('/')}/.ml-connector-check-{os.getpid()}.tmp"
                    await self._op(f"write {probe}", self._touch(s, probe))
                    await self._op(f"remove {probe}", s.sftp.remove(probe))
            except FatalSourceError as exc:
                return f"not usable: {exc}"
            return None

        return await self._retrying(f"sftp check {self.settings.endpoint}:{folder}", go)

    @staticmethod
    async def _touch(s: Session, path: str) -> None:
        async with s.sftp.open(path, "wb"):
            pass
