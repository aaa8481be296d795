"""Load and validate the TOML configuration. Every problem is collected, then reported at once.

Each problem names the dotted key, the file and (when it can be found cheaply) the line, e.g.
``connections.acme.visma.client_secret (ml-connector.toml line 23): environment variable
ACME_VISMA_SECRET is not set``. Secret values never appear in a message: a secret field holding
anything but a reference is reported without quoting it.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ml_connector.config.locate import LineIndex
from ml_connector.config.model import (
    BUILTIN_PROFILES,
    DEFAULT_FILE_PATTERNS,
    MASTERDATA_LISTS,
    PAYMENT_SOURCES,
    POSTING_TARGETS,
    AppConfig,
    ClosedPeriodPolicy,
    ConnectionConfig,
    DashboardConfig,
    LogConfig,
    LogFormat,
    LogLevel,
    MappingConfig,
    MasterdataConfig,
    PaymentsConfig,
    PaymentSource,
    PostingConfig,
    PostingTargetName,
    SftpConfig,
    VaultBackendName,
    VaultConfig,
    VendorsConfig,
    VismaConfig,
    WebhooksConfig,
)
from ml_connector.config.secrets import SecretRef, SecretRefSyntaxError, SecretResolver, default_resolver
from ml_connector.domain.money import AmountFormatError, parse_amount
from ml_connector.errors import ConfigError, SecretError
from ml_connector.hostkey import HostKeyFormatError, parse_host_key

DATABASE_URL_ENV: Final = "ML_CONNECTOR_DATABASE_URL"
MASTER_KEY_ENV: Final = "ML_CONNECTOR_MASTER_KEY"
DEFAULT_VAULT_FILE: Final = "ml-connector.vault"
DEFAULT_DB_NAME: Final = "ml-connector.db"
DEFAULT_API_URL: Final = "https://api.finance.visma.net"
DEFAULT_TOKEN_URL: Final = "https://connect.visma.com/connect/token"  # noqa: S105
MIN_POLL_INTERVAL: Final = 300
MIN_FAST_POLL_INTERVAL: Final = 5
MAX_POLL_INTERVAL: Final = 86_400
COST_CENTER_FIELDS: Final = ("department", "costCenter", "location", "class", "project")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
T = TypeVar("T")

#: ``(profile name, raw [profiles.NAME] table) -> problems`` (empty when the table is fine).
ProfileValidator = Callable[[str, Mapping[str, Any]], list[str]]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


class _Context:
    def __init__(self, file: Path, text: str, resolver: SecretResolver | None) -> None:
        self.file = file
        self.index = LineIndex(text)
        self.resolver = resolver
        self.problems: list[str] = []

    def where(self, path: tuple[str, ...]) -> str:
        dotted = ".".join(f'"{p}"' if not re.fullmatch(r"[A-Za-z0-9_-]+", p) else p for p in path)
        line = self.index.line_of(path)
        loc = self.file.name if line is None else f"{self.file.name} line {line}"
        return f"{dotted} ({loc})"

    def add(self, path: tuple[str, ...], message: str) -> None:
        self.problems.append(f"{self.where(path)}: {message}")


class _Table:
    """One TOML table being read. Getters record problems and return a fallback so reading goes on."""

    def __init__(self, ctx: _Context, path: tuple[str, ...], data: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.path = path
        self.data = data
        self.used: set[str] = set()

    def p(self, key: str) -> tuple[str, ...]:
        return (*self.path, key)

    def add(self, key: str, message: str) -> None:
        self.ctx.add(self.p(key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: object = None) -> Any:
        self.used.add(key)
        return self.data.get(key, default)

    def _typed(self, key: str, kind: type[T] | tuple[type, ...], what: str, default: object) -> Any:
        """The value if present and of ``kind``; ``default`` if absent (problem if REQUIRED); else None."""
        self.used.add(key)
        if key not in self.data:
            if default is REQUIRED:
                self.add(key, f"required key is missing ({what})")
                return None
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and not (isinstance(kind, tuple) and bool in kind):
            self.add(key, f"must be {what}, not {_toml_type(value)}")
            return None
        if not isinstance(value, kind):
            self.add(key, f"must be {what}, not {_toml_type(value)}")
            return None
        return value

    def text(self, key: str, default: str | _Required = REQUIRED, *, what: str = "a string") -> str:
        value = self._typed(key, str, what, default)
        if value is None:
            return ""
        if not value.strip():
            self.add(key, "must not be empty")
            return ""
        return cast(str, value).strip()

    def opt_text(self, key: str) -> str | None:
        if key not in self.data:
            self.used.add(key)
            return None
        value = self.text(key)
        return value or None

    def account(self, key: str, default: str | _Required = REQUIRED) -> str:
        if isinstance(self.data.get(key), int) and not isinstance(self.data.get(key), bool):
            self.used.add(key)
            self.add(key, f'write account numbers as strings, e.g. {key} = "{self.data[key]}"')
            return ""
        return self.text(key, default, what='an account number string, e.g. "2460"')

    def integer(
        self, key: str, default: int | _Required, *, lo: int | None = None, hi: int | None = None
    ) -> int:
        value = self._typed(key, int, "an integer", default)
        if value is None:
            return 0
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else f">= {lo}"
            self.add(key, f"{value} is out of range: must be {bounds}")
        return cast(int, value)

    def seconds(self, key: str, default: float) -> float:
        value = self._typed(key, (int, float), "a number of seconds", default)
        if value is None:
            return default
        if value <= 0:
            self.add(key, f"must be greater than 0 seconds, not {value}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._typed(key, bool, "true or false", default)
        return default if value is None else cast(bool, value)

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        options = tuple(choices)
        value = self._typed(key, str, "one of " + ", ".join(repr(c) for c in options), default)
        if value is None:
            return default
        if value not in options:
            self.add(key, f"{value!r} is not one of " + ", ".join(repr(c) for c in options))
            return default
        return cast(str, value)

    def path_value(self, key: str, *, base: Path, must_exist: bool) -> Path | None:
        value = self.opt_text(key)
        if value is None:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = base / path
        if must_exist and not path.is_file():
            self.add(key, f"file not found: {path}")
        return path

    def secret(self, key: str, *, required: bool, check: bool) -> SecretRef | None:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.add(key, "required key is missing (a secret reference such as env:VARIABLE_NAME)")
            return None
        value = self.data[key]
        if not isinstance(value, str):
            self.add(key, f"must be a secret reference such as env:VARIABLE_NAME, not {_toml_type(value)}")
            return None
        try:
            ref = SecretRef.parse(value)
        except SecretRefSyntaxError as exc:
            self.add(key, str(exc))
            return None
        if check and self.ctx.resolver is not None:
            try:
                ref.resolve(self.ctx.resolver)
            except SecretError as exc:
                self.add(key, exc.message)
        return ref

    def str_map(self, key: str, *, accounts: bool = False) -> dict[str, str]:
        sub = self.sub(key)
        if sub is None:
            return {}
        out: dict[str, str] = {}
        for k in sub.data:
            v = sub.account(k) if accounts else sub.text(k)
            if not k.strip():
                sub.add(k, "empty key")
            elif v:
                out[k] = v
        return out

    def sub(self, key: str, *, required: bool = False) -> _Table | None:
        value = self._typed(key, dict, "a table", REQUIRED if required else None)
        if value is None:
            return None
        return _Table(self.ctx, self.p(key), value)

    def finish(self) -> None:
        known = sorted(self.used)
        for key in self.data:
            if key not in self.used:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known keys: {', '.join(known)})"
                self.add(key, f"unknown key{hint}")


def load_config(
    path: Path,
    *,
    environ: Mapping[str, str] = os.environ,
    resolver: SecretResolver | None = None,
    profile_validator: ProfileValidator | None = None,
) -> AppConfig:
    """Read, validate and return the configuration, or raise ``ConfigError`` listing every problem.

    Secret references of enabled connections are resolved once (the values are dropped) so that a
    missing environment variable is reported now, not at the first poll. ``resolver`` defaults to
    ``env:`` references over ``environ`` plus ``vault:`` references when the file has a ``[vault]``
    table (see ``config_resolver``); a resolver passed here is used as it is.
    ``profile_validator(name, table)`` returns the problems of one ``[profiles.NAME]`` table (e.g. a
    wrapper around ``ReaderProfile.from_mapping``); they are reported with all the others.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file not found: {path} (create one with: ml-connector init {path})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML", problems=[f"{path.name}: {exc}"]) from None

    ctx = _Context(path, text, resolver)
    config = _read(ctx, path.resolve(), data, environ, profile_validator)
    if ctx.problems:
        n = len(ctx.problems)
        raise ConfigError(f"{path}: {n} configuration problem{'s' if n != 1 else ''}", problems=ctx.problems)
    return config


def _read(
    ctx: _Context,
    path: Path,
    data: dict[str, Any],
    environ: Mapping[str, str],
    profile_validator: ProfileValidator | None,
) -> AppConfig:
    top = _Table(ctx, (), data)
    base = path.parent
    ledger_url, source = _ledger_url(top, base, environ)
    log = _log(top, base)
    dashboard = _dashboard(top)
    vault = _vault(top, base, ledger_url)
    if ctx.resolver is None:
        ctx.resolver = _checked_resolver(ctx, vault, environ)
    profiles = _profiles(top, profile_validator)
    connections: list[ConnectionConfig] = []
    conns = top.sub("connections", required=True)
    if conns is not None:
        if not conns.data:
            ctx.add(("connections",), "no connections are defined; add a [connections.NAME] table")
        seen: dict[str, str] = {}
        for name in conns.data:
            conns.used.add(name)
            folded = name.casefold()
            if folded in seen:
                conns.add(name, f"duplicate connection name (same as {seen[folded]!r}, ignoring case)")
            seen.setdefault(folded, name)
            if not _NAME.match(name):
                conns.add(name, "connection names use letters, digits, '-' and '_' (at most 63 characters)")
            table = conns.sub(name)
            if table is not None:
                connections.append(_connection(table, name, profiles, base))
    webhooks = _webhooks(top, base)
    top.finish()
    return AppConfig(
        path=path,
        ledger_url=ledger_url,
        ledger_url_source=source,
        log=log,
        dashboard=dashboard,
        connections=tuple(connections),
        profiles=profiles,
        vault=vault,
        webhooks=webhooks,
    )


def _ledger_url(top: _Table, base: Path, environ: Mapping[str, str]) -> tuple[str, str]:
    from_env = environ.get(DATABASE_URL_ENV, "").strip()
    from_file = top.opt_text("ledger_url")
    if from_file is not None:
        if not from_file.startswith(("sqlite:", "postgresql:", "postgresql+")):
            top.add("ledger_url", "must be a sqlite:///PATH or postgresql+psycopg://USER@HOST/DB URL")
        elif re.match(r"^[^:/]+://[^/@]*:[^/@]*@", from_file):
            top.add(
                "ledger_url",
                f"contains a password; do not write it in the file, set {DATABASE_URL_ENV} instead",
            )
    if from_env:
        if not from_env.startswith(("sqlite:", "postgresql:", "postgresql+")):
            top.ctx.problems.append(
                f"{DATABASE_URL_ENV} (environment): must be a sqlite:///PATH or postgresql+psycopg:// URL"
            )
        return _absolute_sqlite(from_env, Path.cwd()), f"environment {DATABASE_URL_ENV}"
    if from_file is not None:
        return _absolute_sqlite(from_file, base), f"{top.ctx.where(('ledger_url',))}"
    return f"sqlite:///{base / DEFAULT_DB_NAME}", "default (next to the configuration file)"


def _vault(top: _Table, base: Path, ledger_url: str) -> VaultConfig | None:
    t = top.sub("vault")
    if t is None:
        return None
    backend = cast(VaultBackendName, t.choice("backend", "file", ("file", "ledger")))
    path: Path | None = None
    if backend == "file":
        path = t.path_value("path", base=base, must_exist=False) or base / DEFAULT_VAULT_FILE
    elif t.has("path"):
        t.used.add("path")
        t.add("path", 'the vault lives in the ledger database with backend = "ledger"; remove path')
    key_file = t.path_value("master_key_file", base=base, must_exist=False)
    key_env: str | None = None
    if t.has("master_key_env"):
        key_env = t.text("master_key_env", what="an environment variable name")
        if key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
            t.add("master_key_env", "an environment variable name: letters, digits and _ only")
        if key_file is not None:
            t.add("master_key_file", "set master_key_env or master_key_file, not both")
    else:
        t.used.add("master_key_env")
        if key_file is None:
            key_env = MASTER_KEY_ENV
    t.finish()
    return VaultConfig(
        backend=backend,
        path=path,
        master_key_env=key_env,
        master_key_file=key_file,
        ledger_url=ledger_url if backend == "ledger" else "",
    )


def _checked_resolver(ctx: _Context, vault: VaultConfig | None, environ: Mapping[str, str]) -> SecretResolver:
    """``config_resolver``, with the master key checked now and a problem recorded where it fails."""
    if vault is None:
        return default_resolver(environ)
    from ml_connector.config.vault_access import BrokenVaultResolver, VaultResolver, open_vault

    v = open_vault(vault, environ)
    try:
        v.keys.load()
    except SecretError as exc:
        key = "master_key_file" if vault.master_key_file is not None else "master_key_env"
        where = ("vault", key) if ctx.index.line_of(("vault", key)) is not None else ("vault",)
        ctx.add(where, exc.message)
        return default_resolver(environ, vault=BrokenVaultResolver(f"see [vault]: {exc.message}"))
    return default_resolver(environ, vault=VaultResolver(v))


def config_resolver(config: AppConfig, environ: Mapping[str, str] | None = None) -> SecretResolver:
    """The resolver for ``config``'s references: ``env:`` over ``environ`` and, when the file has a
    ``[vault]`` table, ``vault:`` from that vault."""
    env = os.environ if environ is None else environ
    if config.vault is None:
        return default_resolver(env)
    from ml_connector.config.vault_access import VaultResolver, open_vault

    return default_resolver(env, vault=VaultResolver(open_vault(config.vault, env)))


def load_vault_config(path: Path, *, environ: Mapping[str, str] = os.environ) -> VaultConfig:
    """Only the ``[vault]`` table (and the ledger URL it may need), without resolving any secret:
    what ``ml-connector secrets`` needs before the secrets exist. Raises ``ConfigError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({type(exc).__name__})") from None
    ctx = _Context(path, text, None)
    top = _Table(ctx, (), data)
    base = path.resolve().parent
    ledger_url, _ = _ledger_url(top, base, environ)
    vault = _vault(top, base, ledger_url)
    if vault is None and not ctx.problems:
        ctx.problems.append(
            f'{path.name}: no [vault] table; add one, e.g. [vault] path = "{DEFAULT_VAULT_FILE}"'
            " (see docs/security.md)"
        )
    if ctx.problems or vault is None:
        n = len(ctx.problems)
        raise ConfigError(
            f"{path}: {n} vault configuration problem{'s' if n != 1 else ''}", problems=ctx.problems
        )
    return vault


def _absolute_sqlite(url: str, base: Path) -> str:
    """``sqlite:///rel.db`` is relative to ``base``; absolute paths and ``sqlite://`` stay as they are."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and len(url) > len(prefix):
        return prefix + str(base / url[len(prefix) :])
    return url


def _log(top: _Table, base: Path) -> LogConfig:
    t = top.sub("log")
    if t is None:
        return LogConfig()
    level = t.choice("level", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
    fmt = t.choice("format", "console", ("console", "json"))
    file = t.path_value("file", base=base, must_exist=False)
    t.finish()
    return LogConfig(level=cast(LogLevel, level), format=cast(LogFormat, fmt), file=file)


def _dashboard(top: _Table) -> DashboardConfig:
    t = top.sub("dashboard")
    if t is None:
        return DashboardConfig()
    value = t.raw("trusted_proxies", [])
    proxies: list[str] = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        t.add("trusted_proxies", 'must be an array of IP addresses or networks, e.g. ["127.0.0.1"]')
        value = []
    for item in value:
        try:
            if "/" in item:
                ipaddress.ip_network(item.strip())
            else:
                ipaddress.ip_address(item.strip())
        except ValueError:
            t.add("trusted_proxies", f"{item!r} is not an IP address or network (e.g. 10.0.0.0/24)")
        else:
            proxies.append(item.strip())
    t.finish()
    return DashboardConfig(trusted_proxies=tuple(proxies))


def _profiles(top: _Table, validator: ProfileValidator | None) -> dict[str, dict[str, Any]]:
    t = top.sub("profiles")
    if t is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, value in t.data.items():
        t.used.add(name)
        if name in BUILTIN_PROFILES:
            t.add(name, f"{name!r} is a built-in profile; give your profile another name")
        elif not _NAME.match(name):
            t.add(name, "profile names use letters, digits, '-' and '_'")
        elif not isinstance(value, dict):
            t.add(name, f"must be a table ([profiles.{name}]), not {_toml_type(value)}")
        else:
            out[name] = value
            for message in validator(name, value) if validator else ():
                t.add(name, message)
    return out


def _connection(t: _Table, name: str, profiles: dict[str, dict[str, Any]], base: Path) -> ConnectionConfig:
    enabled = t.boolean("enabled", True)
    company = t.text("stampli_company_id")
    fast = t.boolean("allow_fast_poll", False)
    poll = t.integer("poll_interval", 900, lo=MIN_FAST_POLL_INTERVAL, hi=MAX_POLL_INTERVAL)
    if not fast and MIN_FAST_POLL_INTERVAL <= poll < MIN_POLL_INTERVAL:
        t.add(
            "poll_interval",
            f"{poll} seconds is below the minimum of {MIN_POLL_INTERVAL}"
            " (set allow_fast_poll = true for shorter intervals, e.g. against the simulator)",
        )
    profile = t.text("profile", "canonical")
    options: dict[str, Any] = {}
    if profile and profile not in BUILTIN_PROFILES:
        if profile in profiles:
            options = profiles[profile]
            other = options.get("company_id")
            if other is not None and company and str(other).strip() != company:
                t.add(
                    "profile",
                    f"profile {profile!r} sets company_id = {other!r} but this connection's "
                    f"stampli_company_id is {company!r}; remove company_id from the profile "
                    "(every connection checks its own stampli_company_id)",
                )
        else:
            defined = [*BUILTIN_PROFILES, *profiles]
            t.add("profile", f"unknown profile {profile!r}; defined: {', '.join(defined)}")

    sftp_t = t.sub("sftp", required=True)
    visma_t = t.sub("visma", required=True)
    mapping_t = t.sub("mapping", required=True)
    posting_t = t.sub("posting")
    payments_t = t.sub("payments")
    vendors_t = t.sub("vendors")
    masterdata_t = t.sub("masterdata")
    sftp = _sftp(sftp_t, base, enabled) if sftp_t else None
    visma = _visma(visma_t, base, enabled) if visma_t else None
    mapping = _mapping(mapping_t) if mapping_t else None
    posting = _posting(posting_t) if posting_t else PostingConfig()
    payments = _payments(payments_t) if payments_t else PaymentsConfig()
    vendors = _vendors(vendors_t) if vendors_t else VendorsConfig()
    masterdata = _masterdata(masterdata_t, mapping) if masterdata_t else MasterdataConfig()
    t.finish()
    return ConnectionConfig(
        name=name,
        stampli_company_id=company,
        sftp=cast(SftpConfig, sftp),
        visma=cast(VismaConfig, visma),
        mapping=cast(MappingConfig, mapping),
        posting=posting,
        payments=payments,
        enabled=enabled,
        poll_interval=poll,
        allow_fast_poll=fast,
        profile=profile,
        profile_options=options,
        vendors=vendors,
        masterdata=masterdata,
    )


def _sftp(t: _Table, base: Path, check: bool) -> SftpConfig:
    host = t.text("host")
    port = t.integer("port", 22, lo=1, hi=65535)
    username = t.text("username")
    password = t.secret("password", required=False, check=check)
    private_key = t.secret("private_key", required=False, check=check)
    key_file = t.path_value("private_key_file", base=base, must_exist=check)
    passphrase = t.secret("private_key_passphrase", required=False, check=check)
    auth_keys = ("password", "private_key", "private_key_file")
    if not any(t.has(k) for k in auth_keys):
        t.ctx.add(t.path, "no authentication configured: set password, private_key or private_key_file")
    if t.has("private_key") and t.has("private_key_file"):
        t.add("private_key_file", "set private_key or private_key_file, not both")
    if t.has("private_key_passphrase") and not (t.has("private_key") or t.has("private_key_file")):
        t.add("private_key_passphrase", "a passphrase needs private_key or private_key_file")

    host_key = ""
    if not t.has("host_key"):
        t.used.add("host_key")
        t.add(
            "host_key",
            "required key is missing: pin the server's host key, e.g. the output of"
            " 'ssh-keyscan -t ed25519 HOST' without the host name (host keys are never skipped)",
        )
    else:
        host_key = t.text("host_key", what="an SSH public key or SHA256: fingerprint")
        if host_key:
            try:
                parse_host_key(host_key)
            except HostKeyFormatError as exc:
                t.add("host_key", str(exc))

    folders = {k: t.text(k, d) for k, d in _FOLDER_DEFAULTS.items()}
    patterns = _patterns(t)
    min_age = t.integer("min_file_age", 120, lo=0, hi=86_400)
    archive = t.opt_text("archive_folder")
    timeout = t.seconds("connect_timeout", 30.0)
    t.finish()
    return SftpConfig(
        host=host,
        port=port,
        username=username,
        password=password,
        private_key=private_key,
        private_key_file=key_file,
        private_key_passphrase=passphrase,
        host_key=host_key,
        invoices_folder=folders["invoices_folder"],
        payments_folder=folders["payments_folder"],
        vendors_folder=folders["vendors_folder"],
        file_pattern=patterns,
        min_file_age=min_age,
        archive_folder=archive,
        connect_timeout=timeout,
    )


_FOLDER_DEFAULTS: Final = {
    "invoices_folder": "/outbound/invoices",
    "payments_folder": "/outbound/payments",
    "vendors_folder": "/inbound/vendors",
}


def _patterns(t: _Table) -> tuple[str, ...]:
    value = t.raw("file_pattern", None)
    if value is None:
        return DEFAULT_FILE_PATTERNS
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
        t.add("file_pattern", 'must be a glob string or a non-empty array of glob strings, e.g. "*.csv"')
        return DEFAULT_FILE_PATTERNS
    return tuple(i.strip() for i in items)


def _url(t: _Table, key: str, default: str) -> str:
    url = t.text(key, default)
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        t.add(key, "is not an http(s) URL")
    elif parts.password is not None:
        t.add(key, "must not contain a password; credentials come from client_id and client_secret")
    elif parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        t.add(key, "must use https (plain http is allowed only for localhost, e.g. the simulator)")
    return url.rstrip("/") if key == "api_url" else url


def _zone(t: _Table, key: str, default: str) -> str:
    """An IANA time zone name (the default when absent or unknown, after reporting it)."""
    zone = t.text(key, default, what=f'an IANA time zone, e.g. "{default}"')
    if not zone:
        return default
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        t.add(key, f'unknown time zone {zone!r}; use an IANA name such as "Europe/Oslo"')
        return default
    return zone


def _visma(t: _Table, base: Path, check: bool) -> VismaConfig:
    api_url = _url(t, "api_url", DEFAULT_API_URL)
    token_url = _url(t, "token_url", DEFAULT_TOKEN_URL)
    client_id = t.text("client_id")
    secret = t.secret("client_secret", required=True, check=check)
    tenant = t.text("tenant_id")
    company = ""
    if isinstance(t.data.get("company_id"), int) and not isinstance(t.data.get("company_id"), bool):
        company = str(t.raw("company_id"))
    else:
        company = t.text("company_id", what="the company id sent as ipp-company-id")
    ca = t.path_value("ca_bundle", base=base, must_exist=check)
    timeout = t.seconds("timeout", 30.0)
    zone = _zone(t, "timezone", "Europe/Oslo")
    t.finish()
    return VismaConfig(
        api_url=api_url,
        token_url=token_url,
        client_id=client_id,
        client_secret=cast(SecretRef, secret),
        tenant_id=tenant,
        company_id=company,
        ca_bundle=ca,
        timeout=timeout,
        timezone=zone,
    )


def _mapping(t: _Table) -> MappingConfig:
    credit = t.account("credit_account")
    field_name = t.text("cost_center_field", "department")
    if field_name and field_name not in COST_CENTER_FIELDS and not field_name.startswith("custom_"):
        t.add(
            "cost_center_field",
            f"{field_name!r} is not a Stampli line field; use one of {', '.join(COST_CENTER_FIELDS)}"
            " or custom_NAME",
        )
    cc_segment = t.integer("cost_center_segment_id", 1, lo=1, hi=99)
    cc_length = t.integer("cost_center_length", 4, lo=1, hi=30)
    segments: dict[int, str] = {}
    seg_t = t.sub("default_segments")
    if seg_t is not None:
        for key in seg_t.data:
            value = seg_t.text(key)
            if not key.isdigit() or int(key) < 1:
                seg_t.add(key, 'segment ids are positive integers, e.g. 1 = "0000"')
            elif value:
                segments[int(key)] = value
    if cc_segment in segments and cc_length and len(segments[cc_segment]) != cc_length:
        t.ctx.add(
            (*t.path, "default_segments", str(cc_segment)),
            f"the default for the cost-center segment has {len(segments[cc_segment])} characters,"
            f" but cost_center_length is {cc_length}",
        )
    project_segment: int | None = None
    if t.has("project_segment_id"):
        project_segment = t.integer("project_segment_id", REQUIRED, lo=1, hi=99)
        if project_segment == cc_segment:
            t.add("project_segment_id", "must differ from cost_center_segment_id")
    else:
        t.used.add("project_segment_id")
    project_map = t.str_map("project_map")
    if project_map and project_segment is None:
        t.add("project_map", "needs project_segment_id (which SUBACCOUNT segment the project goes to)")
    tax_accounts = t.str_map("tax_accounts", accounts=True)
    reverse, rates = _reverse_charge(t)
    for code in sorted(set(reverse or ()) & set(tax_accounts)):
        t.ctx.add((*t.path, "reverse_charge", code), "tax code is also listed in tax_accounts; keep one")
    banks = t.str_map("bank_accounts", accounts=True)
    default_bank = t.account("default_bank_account", "") if t.has("default_bank_account") else None
    t.used.add("default_bank_account")
    suppliers = t.str_map("supplier_map")
    tax_codes = t.str_map("tax_codes")
    optional = {
        key: (t.account(key, "") if t.has(key) else None) or None
        for key in ("discount_account", "exchange_gain_account", "exchange_loss_account", "rounding_account")
    }
    rounding_max = _amount(t, "rounding_max", Decimal("0.05"), lo=Decimal(0), hi=Decimal(100))
    rate_type = t.opt_text("currency_rate_type")
    t.finish()
    return MappingConfig(
        credit_account=credit,
        cost_center_field=field_name,
        cost_center_segment_id=cc_segment,
        cost_center_length=cc_length,
        default_segments=segments,
        project_segment_id=project_segment,
        project_map=project_map,
        tax_accounts=tax_accounts,
        reverse_charge=reverse,
        reverse_charge_rates=rates,
        bank_accounts=banks,
        default_bank_account=default_bank or None,
        supplier_map=suppliers,
        tax_codes=tax_codes,
        discount_account=optional["discount_account"],
        exchange_gain_account=optional["exchange_gain_account"],
        exchange_loss_account=optional["exchange_loss_account"],
        rounding_account=optional["rounding_account"],
        rounding_max=rounding_max,
        currency_rate_type=rate_type,
    )


def _amount(t: _Table, key: str, default: Decimal, *, lo: Decimal, hi: Decimal) -> Decimal:
    """A decimal number written as a string (``"0.05"``) or an integer; never read through a float."""
    value = t.raw(key, None)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = parse_amount(value)
        except AmountFormatError:
            t.add(key, f'must be a decimal number written as a string, e.g. {key} = "{default}"')
            return default
    else:
        example = f'{key} = "{default}"'
        t.add(key, f"must be a decimal number written as a string, e.g. {example}, not {_toml_type(value)}")
        return default
    if not lo <= number <= hi:
        t.add(key, f"{number} is out of range: must be between {lo} and {hi}")
        return default
    return number


def _reverse_charge(t: _Table) -> tuple[dict[str, tuple[str, str]] | None, dict[str, Decimal]]:
    """``taxCode -> (input VAT account, output VAT account)`` and ``taxCode -> rate`` (percent)."""
    sub = t.sub("reverse_charge")
    if sub is None:
        return None, {}
    out: dict[str, tuple[str, str]] = {}
    rates: dict[str, Decimal] = {}
    hint = (
        'use ["INPUT_VAT_ACCOUNT", "OUTPUT_VAT_ACCOUNT", "RATE"] '
        'or { input = "...", output = "...", rate = "25" }'
    )
    for code, value in sub.data.items():
        sub.used.add(code)
        if isinstance(value, dict):
            inner = _Table(sub.ctx, sub.p(code), value)
            accounts = (inner.account("input"), inner.account("output"))
            if not inner.has("rate"):
                inner.used.add("rate")
                inner.add("rate", 'required: the self-assessed VAT rate in percent, e.g. rate = "25"')
                rate = None
            else:
                rate = _amount(inner, "rate", Decimal(-1), lo=Decimal("0.01"), hi=Decimal(100))
            inner.finish()
            if all(accounts) and rate is not None and rate > 0:
                out[code], rates[code] = accounts, rate
            continue
        items = value if isinstance(value, list) else []
        if len(items) != 3 or not all(isinstance(a, str) and a.strip() for a in items[:2]):
            sub.add(code, f"must name two accounts and the rate: {hint}")
            continue
        holder = _Table(sub.ctx, sub.p(code), {"rate": items[2]})
        rate = _amount(holder, "rate", Decimal(-1), lo=Decimal("0.01"), hi=Decimal(100))
        if rate > 0:
            out[code] = (cast(str, items[0]).strip(), cast(str, items[1]).strip())
            rates[code] = rate
    return out, rates


def _posting(t: _Table) -> PostingConfig:
    release = t.boolean("release", True)
    policy = t.choice("closed_period_policy", "park", ("park", "next_open"))
    target = t.choice("target", "journal", POSTING_TARGETS)
    require_image = t.boolean("require_image", False)
    concurrency = t.integer("concurrency", 4, lo=1, hi=64)
    t.finish()
    return PostingConfig(
        release=release,
        closed_period_policy=cast(ClosedPeriodPolicy, policy),
        target=cast(PostingTargetName, target),
        require_image=require_image,
        concurrency=concurrency,
    )


def _payments(t: _Table) -> PaymentsConfig:
    source = t.choice("source", "stampli", PAYMENT_SOURCES)
    t.finish()
    return PaymentsConfig(source=cast(PaymentSource, source))


_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _webhooks(top: _Table, base: Path) -> WebhooksConfig | None:
    t = top.sub("webhooks")
    if t is None:
        return None
    enabled = t.boolean("enabled", False)
    secret = t.secret("secret", required=True, check=enabled)
    path = t.text("path", "/webhooks/visma")
    if path and (not path.startswith("/") or path.startswith(("/api", "/static"))):
        t.add("path", 'must start with "/" and stay outside /api and /static, e.g. "/webhooks/visma"')
    port: int | None = t.integer("port", 0, lo=1, hi=65535) if t.has("port") else None
    host = t.text("host", "127.0.0.1")
    cert = t.path_value("tls_cert", base=base, must_exist=enabled)
    key = t.path_value("tls_key", base=base, must_exist=enabled)
    if (cert is None) != (key is None):
        t.add("tls_cert" if key is None else "tls_key", "set tls_cert and tls_key together")
    if cert is not None and port is None:
        t.add("tls_cert", "TLS here is for a listener of its own (set port); the dashboard has --tls-cert")
    header = t.text("signature_header", "X-Visma-Signature")
    if header and not _HEADER.match(header):
        t.add("signature_header", f"{header!r} is not an HTTP header name")
    max_age = t.integer("max_age", 300, lo=10, hi=86_400)
    t.finish()
    return WebhooksConfig(
        secret=cast(SecretRef, secret),
        enabled=enabled,
        path=path.rstrip("/") or "/webhooks/visma",
        port=port,
        host=host,
        tls_cert=cert,
        tls_key=key,
        signature_header=header,
        max_age=max_age,
    )


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _full_at(t: _Table) -> str:
    raw_at = t.raw("full_at", "02:00")
    if isinstance(raw_at, time):
        return f"{raw_at:%H:%M}"  # a TOML local time, e.g. full_at = 02:00:00
    if isinstance(raw_at, str) and _HHMM.match(raw_at.strip()):
        return raw_at.strip()
    t.add("full_at", 'must be a local time "HH:MM" (00:00 to 23:59), e.g. full_at = "02:00"')
    return "02:00"


def _vendors(t: _Table) -> VendorsConfig:
    enabled = t.boolean("enabled", True)
    full_at = _full_at(t)
    zone = _zone(t, "timezone", "Europe/Oslo")
    delta = t.boolean("delta", True)
    bom = t.boolean("bom", False)
    t.finish()
    return VendorsConfig(
        enabled=enabled, full_at=full_at, timezone=zone or "Europe/Oslo", delta=delta, bom=bom
    )


def _masterdata(t: _Table, mapping: MappingConfig | None) -> MasterdataConfig:
    enabled = t.boolean("enabled", False)
    folder = t.text("folder", "/inbound/masterdata")
    if folder and not folder.startswith("/"):
        t.add("folder", f'must be an absolute SFTP path, e.g. "/inbound/masterdata", not {folder!r}')
    lists = _masterdata_lists(t, mapping)
    full_at = _full_at(t)
    zone = _zone(t, "timezone", "Europe/Oslo")
    delta = t.boolean("delta", True)
    bom = t.boolean("bom", False)
    t.finish()
    return MasterdataConfig(
        enabled=enabled,
        folder=folder or "/inbound/masterdata",
        lists=lists,
        full_at=full_at,
        timezone=zone or "Europe/Oslo",
        delta=delta,
        bom=bom,
    )


def _masterdata_lists(t: _Table, mapping: MappingConfig | None) -> tuple[str, ...]:
    """The configured lists; ``projects`` only when the mapping names a project segment."""
    has_projects = mapping is not None and mapping.project_segment_id is not None
    default = tuple(n for n in MASTERDATA_LISTS if n != "projects" or has_projects)
    value = t.raw("lists", None)
    if value is None:
        return default
    names = ", ".join(repr(n) for n in MASTERDATA_LISTS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        t.add("lists", f"must be an array of list names from {names}, not {_toml_type(value)}")
        return default
    out: list[str] = []
    for name in value:
        if name == "vendors":
            t.add("lists", "suppliers are exported by [vendors] (its own table); remove 'vendors' here")
        elif name not in MASTERDATA_LISTS:
            t.add("lists", f"unknown list {name!r}; choose from {names}")
        elif name == "projects" and mapping is not None and not has_projects:
            t.add("lists", "'projects' needs mapping.project_segment_id (the SUBACCOUNT segment of projects)")
        elif name not in out:
            out.append(name)
    return tuple(out)
