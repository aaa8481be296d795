"""Master keys: where they come from, how they are checked, how they are named.

A master key is 32 random bytes (AES-256), written as base64 (``ml-connector secrets new-key``).
It comes from an environment variable or from a key file. Either may hold several keys separated
by commas, spaces or new lines: the first encrypts, the others still decrypt (that is how a key is
rotated without a moment where secrets are unreadable, see docs/security.md).

A key file must be a regular file that only its owner can read: any group or other permission bit
(``chmod 644``) is refused. No message ever quotes a key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from ml_connector.errors import SecretError
from ml_connector.redaction import remember_secret

KEY_BYTES: Final = 32
DEFAULT_MASTER_KEY_ENV: Final = "ML_CONNECTOR_MASTER_KEY"
_SPLIT = re.compile(r"[\s,]+")


def key_id(key: bytes) -> str:
    """A short public name for a key (a hash prefix; it reveals nothing about the key)."""
    return hashlib.sha256(b"ml-connector vault key id\0" + key).hexdigest()[:16]


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, *, where: str) -> bytes:
    """Decode one base64 key. The message names ``where`` the key came from, never the key."""
    compact = text.strip()
    try:
        raw = base64.b64decode(compact.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SecretError(
            f"master key from {where} is not {KEY_BYTES} bytes of base64"
            " (create one with: ml-connector secrets new-key KEYFILE)"
        )
    return raw


@dataclass(frozen=True)
class KeyRing:
    """The master keys in effect: ``keys[0]`` encrypts; every key decrypts what it encrypted."""

    keys: tuple[bytes, ...] = field(repr=False)
    source: str  # e.g. "environment variable ML_CONNECTOR_MASTER_KEY" or "key file /etc/x.key"

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretError(f"no master key in {self.source}")

    @property
    def primary(self) -> bytes:
        return self.keys[0]

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(k) for k in self.keys)

    def by_id(self, kid: str) -> bytes | None:
        for k in self.keys:
            if key_id(k) == kid:
                return k
        return None

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.ids!r}, source={self.source!r})"


def _parse(text: str, where: str) -> tuple[bytes, ...]:
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    tokens = [t for t in _SPLIT.split(" ".join(lines)) if t]
    for t in tokens:
        remember_secret(t)  # the key text itself is a secret: redact it wherever it might appear
    keys: list[bytes] = []
    for n, token in enumerate(tokens, 1):
        k = decode_key(token, where=where if len(tokens) == 1 else f"{where} (key {n})")
        if k not in keys:
            keys.append(k)
    return tuple(keys)


class KeySource(Protocol):
    """Where the master keys come from. ``load`` is called on every use, so a rotated key file is
    seen by a running service without a restart."""

    description: str

    def load(self) -> KeyRing: ...


class EnvKeySource:
    def __init__(self, name: str = DEFAULT_MASTER_KEY_ENV, environ: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._environ = os.environ if environ is None else environ
        self.description = f"environment variable {name}"

    def load(self) -> KeyRing:
        text = self._environ.get(self.name, "")
        if not text.strip():
            raise SecretError(
                f"master key: environment variable {self.name} is not set"
                " (or set vault.master_key_file to a key file)"
            )
        return KeyRing(_parse(text, self.description), self.description)


def check_key_file(path: Path) -> os.stat_result:
    """Refuse a key file that is missing, not a regular file, or readable by anyone but its owner."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(
            f"master key file {path} does not exist (create one with: ml-connector secrets new-key {path})"
        ) from None
    except OSError as exc:
        raise SecretError(f"master key file {path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"master key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SecretError(
            f"master key file {path} is accessible to other users (mode {mode:04o}); refusing to use it."
            f" Run: chmod 600 {path}, then rotate the key (it may have been read)"
        )
    return st


class FileKeySource:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"key file {self.path}"

    def load(self) -> KeyRing:
        check_key_file(self.path)
        try:
            text = self.path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"master key file {self.path}: cannot read it ({type(exc).__name__})") from None
        return KeyRing(_parse(text, self.description), self.description)

    def write(self, keys: tuple[bytes, ...]) -> None:
        """Replace the key file atomically (mode 0600): the new file appears whole or not at all."""
        body = "".join(f"{encode_key(k)}\n" for k in keys)
        write_private(self.path, body.encode("ascii"))


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (temp file, fsync, rename)."""
    path = Path(path)
    if exclusive and path.exists():
        raise SecretError(f"{path} already exists; refusing to overwrite it")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
