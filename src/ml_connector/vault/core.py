"""The vault: AES-256-GCM entries under a master key, addressed by name.

Each entry is encrypted with a fresh 96-bit nonce; the associated data binds it to its name and to
the id of the key that encrypted it, so an entry copied onto another name, or edited in any way,
fails authentication instead of decrypting to something else. Every failure is a ``SecretError``
that names the secret and never carries any part of a value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ml_connector.errors import SecretError
from ml_connector.redaction import remember_secret
from ml_connector.vault.backends import Entry, VaultBackend
from ml_connector.vault.keys import FileKeySource, KeyRing, KeySource, generate_key, key_id

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,199}$")
MAX_VALUE_BYTES = 64 * 1024
_AAD_PREFIX = b"ml-connector-vault/1\0"


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise SecretError(
            "a secret name starts with a letter or _ and uses letters, digits, '_', '.', '-' and '/'"
            " (at most 200 characters)"
        )
    return name


def _aad(name: str, kid: str) -> bytes:
    return _AAD_PREFIX + name.encode("utf-8") + b"\0" + kid.encode("ascii")


def encrypt(name: str, value: str, key: bytes) -> Entry:
    kid = key_id(key)
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, value.encode("utf-8"), _aad(name, kid))
    return Entry(
        name=name,
        key_id=kid,
        nonce=base64.b64encode(nonce).decode("ascii"),
        ciphertext=base64.b64encode(ct).decode("ascii"),
        updated_at=datetime.now(UTC),
    )


def decrypt(entry: Entry, ring: KeyRing) -> str:
    name = entry.name
    key = ring.by_id(entry.key_id)
    if key is None:
        raise SecretError(
            f"vault secret {name!r} cannot be decrypted: it was encrypted under master key"
            f" {entry.key_id}, and {ring.source} holds {', '.join(ring.ids)}"
            " (wrong master key, or the entry was altered)"
        )
    try:
        nonce = base64.b64decode(entry.nonce, validate=True)
        ct = base64.b64decode(entry.ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"vault secret {name!r} is damaged: its ciphertext is not base64") from None
    if len(nonce) != 12:
        raise SecretError(f"vault secret {name!r} is damaged: bad nonce length")
    try:
        plain = AESGCM(key).decrypt(nonce, ct, _aad(name, entry.key_id))
    except InvalidTag:
        raise SecretError(
            f"vault secret {name!r} failed authentication: the entry was altered (or belongs to another"
            " name); nothing was decrypted. Set it again with: ml-connector secrets set " + name
        ) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"vault secret {name!r} is damaged: not UTF-8 text") from None


@dataclass(frozen=True)
class SecretInfo:
    name: str
    key_id: str
    updated_at: datetime


@dataclass(frozen=True)
class RotateResult:
    rotated: int
    key_id: str
    previous_ids: tuple[str, ...]
    key_file_updated: bool


class Vault:
    """Names -> encrypted values in ``backend``, under the keys of ``keys``."""

    def __init__(self, backend: VaultBackend, keys: KeySource) -> None:
        self.backend = backend
        self.keys = keys

    def __repr__(self) -> str:
        return f"Vault({self.backend.description}, keys from {self.keys.description})"

    def get(self, name: str) -> str:
        entry = self.backend.read_all().get(name)
        if entry is None:
            raise SecretError(
                f"vault secret {name!r} does not exist in {self.backend.description}"
                f" (add it with: ml-connector secrets set {name})"
            )
        value = decrypt(entry, self.keys.load())
        remember_secret(value)
        return value

    def set(self, name: str, value: str) -> SecretInfo:
        check_name(name)
        if not value or not value.strip():
            raise SecretError(f"vault secret {name!r}: the value is empty; nothing stored")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise SecretError(f"vault secret {name!r}: the value is longer than {MAX_VALUE_BYTES} bytes")
        remember_secret(value)
        entry = encrypt(name, value, self.keys.load().primary)
        self.backend.put(entry)
        return SecretInfo(entry.name, entry.key_id, entry.updated_at)

    def delete(self, name: str) -> bool:
        return self.backend.delete(name)

    def list(self) -> list[SecretInfo]:
        return [SecretInfo(e.name, e.key_id, e.updated_at) for e in sorted_entries(self.backend.read_all())]

    def verify(self) -> dict[str, str | None]:
        """Every secret's problem (None when it decrypts). Values are dropped at once."""
        ring = self.keys.load()
        out: dict[str, str | None] = {}
        for entry in sorted_entries(self.backend.read_all()):
            try:
                remember_secret(decrypt(entry, ring))
                out[entry.name] = None
            except SecretError as exc:
                out[entry.name] = exc.message
        return out

    def rotate(self, new_key: bytes | None = None) -> RotateResult:
        """Re-encrypt every secret under a new master key, in one atomic step.

        With a key file, the new key (``new_key`` or a generated one) is written first, in front of
        the old ones, so from that moment every reader holds both; then every entry is re-encrypted
        and swapped in at once. With an environment variable, the key to rotate to is the first one
        of the variable (``NEW,OLD``). Nothing changes if any entry cannot be decrypted.
        """
        ring = self.keys.load()
        current = self.backend.read_all()
        plain: dict[str, str] = {}
        problems: list[str] = []
        for entry in sorted_entries(current):
            try:
                plain[entry.name] = decrypt(entry, ring)
                remember_secret(plain[entry.name])
            except SecretError as exc:
                problems.append(exc.message)
        if problems:
            raise SecretError(
                "rotation refused, nothing was changed:\n" + "\n".join(f"  - {p}" for p in problems)
            )
        key_file_updated = False
        if isinstance(self.keys, FileKeySource):
            target = new_key or generate_key()
            if target != ring.primary:
                self.keys.write((target, *ring.keys))
                key_file_updated = True
                ring = self.keys.load()
        elif new_key is not None and new_key != ring.primary:
            raise SecretError(
                f"the master key comes from {self.keys.description}: put the new key first in it"
                " (NEW,OLD) and run rotate again"
            )
        primary = ring.primary
        fresh = {name: encrypt(name, value, primary) for name, value in plain.items()}
        self.backend.replace_all(fresh, expect=current)
        previous = tuple(i for i in ring.ids if i != ring.primary_id)
        return RotateResult(len(fresh), ring.primary_id, previous, key_file_updated)

    def prune_keys(self) -> tuple[str, ...]:
        """Drop retired keys from the key file once no secret uses them. Returns the dropped ids."""
        if not isinstance(self.keys, FileKeySource):
            raise SecretError(
                f"the master key comes from {self.keys.description}: remove the old keys from it yourself"
            )
        ring = self.keys.load()
        used = {e.key_id for e in self.backend.read_all().values()}
        stale = used - {ring.primary_id}
        if stale:
            raise SecretError(
                f"{len(stale)} key id(s) still in use ({', '.join(sorted(stale))});"
                " run: ml-connector secrets rotate"
            )
        dropped = ring.ids[1:]
        if dropped:
            self.keys.write((ring.primary,))
        return dropped


def sorted_entries(entries: dict[str, Entry]) -> Iterable[Entry]:
    return (entries[n] for n in sorted(entries))
