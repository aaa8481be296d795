"""Connections from the configuration file and from the database (``scale_connections``).

A service provider with hundreds of companies keeps their connections in the database: each row
is the TOML text of one ``[connections.NAME]`` table (with its ``.sftp``, ``.visma``, ``.mapping``
... sub-tables), exactly as it would be written in the file. Secrets stay references
(``vault:NAME`` with ``[vault] backend = "ledger"``, or ``env:NAME``), never values. The file
still holds what is shared (``[vault]``, ``[log]``, ``[profiles.*]``) and may hold connections too.

Workers read the rows again whenever they change (checked at every tick), so adding a company is
``ml-connector db connections add FILE`` and no restart. Every fragment is validated with the
file's own rules (``load_config``) before it is stored.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ml_connector.config.loader import _Context, _read  # the file's own validation rules
from ml_connector.config.model import AppConfig
from ml_connector.errors import ConfigError
from ml_connector.ledger.scale_schema import scale_connections
from ml_connector.ledger.store import utcnow


def load_merged(
    path: Path, fragments: Mapping[str, str], *, environ: Mapping[str, str] = os.environ
) -> AppConfig:
    """The configuration file plus the database's connection tables, validated together."""
    try:
        base = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    parts = [base]
    for name, text in sorted(fragments.items()):
        parts.append(f"\n# ---- connection {name!r} from the database ----\n{text}\n")
    text = "".join(parts)
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} with the database's connections: not valid TOML", problems=[str(exc)]
        ) from None
    ctx = _Context(path, text, None)
    config = _read(ctx, path.resolve(), data, environ, None)
    if ctx.problems:
        raise ConfigError(f"{path} with the database's connections: invalid", problems=ctx.problems)
    return config


def fragment_names(text: str) -> list[str]:
    """The connection names a TOML fragment defines; anything but ``[connections.*]`` is refused."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("not valid TOML", problems=[str(exc)]) from None
    others = [k for k in data if k != "connections"]
    if others:
        raise ConfigError(
            "a connection file for the database holds only [connections.NAME] tables",
            problems=[f"unexpected top-level key {k!r}" for k in others],
        )
    conns = data.get("connections")
    if not isinstance(conns, dict) or not conns:
        raise ConfigError("no [connections.NAME] table found")
    return list(conns)


def split_fragment(text: str) -> dict[str, str]:
    """One TOML text per connection (each re-rendered from the parsed tables)."""
    data = tomllib.loads(text)
    return {name: _render({"connections": {name: table}}) for name, table in data["connections"].items()}


def _render(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """A small TOML writer for what a connection table holds (strings, numbers, booleans, arrays,
    tables); enough to store one connection as text."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if prefix and scalars:
        lines.append("[" + ".".join(_key(p) for p in prefix) + "]")
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    if scalars:
        lines.append("")
    for k, v in tables.items():
        lines.append(_render(v, (*prefix, k)))
    return "\n".join(lines)


def _key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _value(k)


def _value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ConfigError(f"cannot store a value of type {type(v).__name__} in a connection")


class ConnectionSource:
    """The current configuration: the file plus the database's connections, reloaded on change."""

    def __init__(self, path: Path, engine: Engine, *, environ: Mapping[str, str] = os.environ) -> None:
        self.path = path
        self.engine = engine
        self.environ = dict(environ)
        self._fingerprint: str | None = None
        self._config: AppConfig | None = None

    def rows(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            q = sa.select(scale_connections.c.name, scale_connections.c.definition)
            return {str(n): str(d) for n, d in conn.execute(q)}

    def current(self) -> AppConfig:
        rows = self.rows()
        stat = self.path.stat()
        digest = hashlib.sha256(repr((sorted(rows.items()), stat.st_mtime_ns, stat.st_size)).encode())
        fingerprint = digest.hexdigest()
        if self._config is None or fingerprint != self._fingerprint:
            self._config = load_merged(self.path, rows, environ=self.environ)
            self._fingerprint = fingerprint
        return self._config


def store_connections(
    engine: Engine, config_path: Path, text: str, *, environ: Mapping[str, str]
) -> list[str]:
    """Validate the fragment together with the file and the stored rows, then upsert its rows."""
    fragment_names(text)
    new = split_fragment(text)
    source = ConnectionSource(config_path, engine, environ=environ)
    merged = {**source.rows(), **new}
    load_merged(config_path, merged, environ=environ)  # raises ConfigError listing every problem
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    stmt = pg_insert(scale_connections)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={"definition": stmt.excluded.definition, "updated_at": utcnow()}
    )
    with engine.begin() as conn:
        conn.execute(stmt, [{"name": n, "definition": t, "updated_at": utcnow()} for n, t in new.items()])
    return sorted(new)


def remove_connection(engine: Engine, name: str) -> bool:
    with engine.begin() as conn:
        res = conn.execute(scale_connections.delete().where(scale_connections.c.name == name))
        return bool(res.rowcount)
