"""Where the encrypted entries live: a file, or a table in the ledger database.

Backends only store opaque entries (key id, nonce, ciphertext); they never see a plaintext.
``replace_all`` swaps every entry in one atomic step (a rename, or one transaction), which is what
makes ``rotate`` safe: a reader sees either every entry under the old key or every entry under the
new one, never a mix it cannot read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from ml_connector.errors import SecretError
from ml_connector.vault.keys import write_private

FILE_FORMAT: Final = "ml-connector-vault/1"


@dataclass(frozen=True)
class Entry:
    """One encrypted secret. ``nonce`` and ``ciphertext`` are base64 text."""

    name: str
    key_id: str
    nonce: str
    ciphertext: str
    updated_at: datetime


class VaultBackend(Protocol):
    description: str

    def read_all(self) -> dict[str, Entry]: ...

    def put(self, entry: Entry) -> None: ...

    def delete(self, name: str) -> bool: ...

    def replace_all(self, entries: Mapping[str, Entry], *, expect: Mapping[str, Entry]) -> None:
        """Replace every entry at once, unless the store changed since ``expect`` was read."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


class FileBackend:
    """A JSON file (mode 0600) rewritten atomically; writers take an ``flock`` on ``PATH.lock``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"vault file {self.path}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SecretError(f"{self.description}: cannot lock it ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read_all(self) -> dict[str, Entry]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretError(f"{self.description}: cannot read it ({exc.strerror})") from None
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
                raise ValueError("format")
            secrets = data["secrets"]
            if not isinstance(secrets, dict):
                raise ValueError("secrets")
        except (ValueError, KeyError, TypeError):
            raise SecretError(f"{self.description} is damaged: not an ml-connector vault file") from None
        out: dict[str, Entry] = {}
        for name, item in secrets.items():
            out[name] = _entry_from(name, item, self.description)
        return out

    def _write(self, entries: Mapping[str, Entry]) -> None:
        data = {
            "format": FILE_FORMAT,
            "secrets": {
                n: {
                    "key_id": e.key_id,
                    "nonce": e.nonce,
                    "ciphertext": e.ciphertext,
                    "updated_at": e.updated_at.isoformat(),
                }
                for n, e in sorted(entries.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))

    def put(self, entry: Entry) -> None:
        with self._locked():
            entries = self.read_all()
            entries[entry.name] = entry
            self._write(entries)

    def delete(self, name: str) -> bool:
        with self._locked():
            entries = self.read_all()
            if entries.pop(name, None) is None:
                return False
            self._write(entries)
            return True

    def replace_all(self, entries: Mapping[str, Entry], *, expect: Mapping[str, Entry]) -> None:
        with self._locked():
            if self.read_all() != dict(expect):
                raise SecretError(f"{self.description} changed while rotating; run the command again")
            self._write(entries)


def _entry_from(name: str, item: Any, where: str) -> Entry:
    try:
        at = item.get("updated_at")
        return Entry(
            name=name,
            key_id=str(item["key_id"]),
            nonce=str(item["nonce"]),
            ciphertext=str(item["ciphertext"]),
            updated_at=datetime.fromisoformat(at) if isinstance(at, str) else _now(),
        )
    except (KeyError, TypeError, AttributeError, ValueError):
        raise SecretError(f"vault secret {name!r} is damaged in {where}: the entry is incomplete") from None


class LedgerBackend:
    """The ``vault_secrets`` table of the ledger database (migration 0004): one vault shared by every
    worker of a scaled-out installation. An engine is opened per operation and disposed of."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.description = "vault table vault_secrets in the ledger database"

    @contextlib.contextmanager
    def _conn(self, *, migrate: bool = False) -> Iterator[sa.Connection]:
        from ml_connector.ledger.store import Ledger

        try:
            ledger = Ledger.open(self._url) if migrate else Ledger(self._url)
        except Exception as exc:  # LedgerError and driver errors: the message must not carry the URL
            raise SecretError(f"{self.description}: cannot open the ledger ({type(exc).__name__})") from None
        try:
            with ledger.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise SecretError(f"{self.description}: database error ({type(exc).__name__})") from None
        finally:
            ledger.close()

    def read_all(self) -> dict[str, Entry]:
        from ml_connector.ledger.vault_schema import vault_secrets

        with self._conn() as conn:
            if not sa.inspect(conn).has_table("vault_secrets"):
                return {}
            rows = conn.execute(sa.select(vault_secrets)).mappings()
            return {
                r["name"]: Entry(r["name"], r["key_id"], r["nonce"], r["ciphertext"], r["updated_at"])
                for r in rows
            }

    def _upsert(self, conn: sa.Connection, e: Entry) -> None:
        from ml_connector.ledger.vault_schema import vault_secrets

        values = {
            "key_id": e.key_id,
            "nonce": e.nonce,
            "ciphertext": e.ciphertext,
            "updated_at": e.updated_at,
        }
        done = conn.execute(vault_secrets.update().where(vault_secrets.c.name == e.name).values(**values))
        if done.rowcount == 0:
            conn.execute(vault_secrets.insert().values(name=e.name, **values))

    def put(self, entry: Entry) -> None:
        with self._conn(migrate=True) as conn:
            self._upsert(conn, entry)

    def delete(self, name: str) -> bool:
        from ml_connector.ledger.vault_schema import vault_secrets

        with self._conn(migrate=True) as conn:
            return bool(conn.execute(vault_secrets.delete().where(vault_secrets.c.name == name)).rowcount)

    def replace_all(self, entries: Mapping[str, Entry], *, expect: Mapping[str, Entry]) -> None:
        from ml_connector.ledger.vault_schema import vault_secrets

        with self._conn(migrate=True) as conn:
            rows = conn.execute(sa.select(vault_secrets).with_for_update()).mappings()
            now = {r["name"]: (r["key_id"], r["nonce"], r["ciphertext"]) for r in rows}
            if now != {n: (e.key_id, e.nonce, e.ciphertext) for n, e in expect.items()}:
                raise SecretError(f"{self.description} changed while rotating; run the command again")
            for e in entries.values():
                self._upsert(conn, e)
