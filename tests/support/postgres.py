"""pytest plugin: PostgreSQL for tests, on a fresh machine too.

Fixtures:

* ``postgres_server_url`` (session): ``postgresql+psycopg://USER@HOST:PORT/postgres``, a server where
  the tests may create databases. Found, in order:

  1. ``$ML_CONNECTOR_TEST_POSTGRES_URL`` if set (any ``postgresql://`` or ``postgresql+psycopg://`` URL;
     the value ``throwaway`` forces option 3);
  2. ``127.0.0.1:5432``, user ``postgres``, trust authentication, if it answers;
  3. a throwaway cluster under /tmp (initdb + pg_ctl as the ``postgres`` OS user, see
     /work/shared/docs/stack.md §6.2; ``apt-get install postgresql`` first if initdb is missing),
     stopped and deleted at the end of the session.

  If none works the fixture fails the test with the reasons. It never skips.
* ``postgres_url`` (function): a fresh, empty database on that server, dropped after the test.
* ``ledger_url`` (function, parametrized ``sqlite`` / ``postgresql``): the same test on both backends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ml_connector.redaction import redact_url

ENV_URL = "ML_CONNECTOR_TEST_POSTGRES_URL"
FORCE_THROWAWAY = "throwaway"
LOCAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_PREFIX = "mlc_test_"


class PostgresUnavailable(RuntimeError):
    pass


def sqlalchemy_url(url: str) -> str:
    """Any postgres URL -> the ``postgresql+psycopg://`` form SQLAlchemy uses with psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise PostgresUnavailable(f"not a PostgreSQL URL: {url.split('://')[0]}://...")


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` (what psycopg.connect accepts)."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


def with_database(url: str, dbname: str) -> str:
    base, _, _ = sqlalchemy_url(url).partition("?")
    head = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    query = url.partition("?")[2]
    return f"{head}/{dbname}" + (f"?{query}" if query else "")


def check_server(url: str, timeout: float = 3.0) -> None:
    """Connect and run one query, or raise PostgresUnavailable with the reason."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        raise PostgresUnavailable(f"{redact_url(url, keep_user=True)}: {reason}") from None


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- throwaway cluster


def _pg_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    raise PostgresUnavailable("initdb not found")


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parent.parent.name
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def _ensure_binaries() -> Path:
    try:
        return _pg_bin()
    except PostgresUnavailable:
        pass
    if os.geteuid() != 0:
        raise PostgresUnavailable("initdb not found and not root, so cannot apt-get install postgresql")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return _pg_bin()


@dataclass
class ThrowawayCluster:
    root: Path
    port: int
    bin_dir: Path
    as_user: str | None  # "postgres" when we are root (the server refuses to run as root)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call twice."""
        if (self.root / "data" / "postmaster.pid").exists():
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"
            )
        shutil.rmtree(self.root, ignore_errors=True)


def start_throwaway_cluster(port: int | None = None) -> ThrowawayCluster:
    """initdb + pg_ctl start a cluster under /tmp with trust auth on 127.0.0.1:PORT (~1.3 s)."""
    bin_dir = _ensure_binaries()
    as_user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mlc-pg-", dir="/tmp"))
    if as_user:
        shutil.chown(root, as_user, as_user)
    cluster = ThrowawayCluster(root=root, port=port or free_port(), bin_dir=bin_dir, as_user=as_user)
    try:
        init = cluster._run(
            str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
        opts = (
            f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        start = cluster._run(
            str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"),
            "-w", "-t", "30", "-o", opts, "start",
        )  # fmt: skip
        if start.returncode != 0:
            log = (
                (root / "server.log").read_text(errors="replace")[-800:]
                if (root / "server.log").exists()
                else ""
            )
            raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {log}")
        check_server(cluster.url)
    except BaseException:
        cluster.stop()
        raise
    return cluster


# ---------------------------------------------------------------------------- fixtures


def find_server() -> tuple[str, ThrowawayCluster | None]:
    """The URL to use and, when we started one, the cluster to stop later."""
    tried: list[str] = []
    explicit = os.environ.get(ENV_URL, "").strip()
    if explicit and explicit != FORCE_THROWAWAY:
        check_server(explicit)  # set explicitly: use it or fail, never fall back silently
        return sqlalchemy_url(explicit), None
    if explicit != FORCE_THROWAWAY:
        if _port_open("127.0.0.1", 5432):
            try:
                check_server(LOCAL_URL)
                return LOCAL_URL, None
            except PostgresUnavailable as exc:
                tried.append(f"local server: {exc}")
        else:
            tried.append("local server: nothing listens on 127.0.0.1:5432")
    try:
        cluster = start_throwaway_cluster()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as exc:
        tried.append(f"throwaway cluster: {exc}")
        raise PostgresUnavailable("no PostgreSQL for the tests:\n  " + "\n  ".join(tried)) from None
    return cluster.url, cluster


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    problem: str | None = None
    try:
        url, cluster = find_server()
    except PostgresUnavailable as exc:
        problem = str(exc)
    if problem is not None:  # fail outside the except block: one clean message, no chained traceback
        pytest.fail(
            f"{problem}\nSet {ENV_URL}=postgresql://USER@HOST:PORT/postgres to use another server.",
            pytrace=False,
        )
    try:
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


def create_database(server_url: str) -> str:
    name = f"{DB_PREFIX}{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        # FORCE ends connections a test left open (e.g. an SQLAlchemy pool), PostgreSQL >= 13.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test: ``postgresql+psycopg://.../mlc_test_<random>``."""
    name = create_database(postgres_server_url)
    try:
        yield with_database(postgres_server_url, name)
    finally:
        drop_database(postgres_server_url, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same ledger test on SQLite (a file in tmp_path) and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


def wait_gone(port: int, timeout: float = 5.0) -> bool:
    """True once nothing listens on 127.0.0.1:PORT (used by the plugin's own tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _port_open("127.0.0.1", port):
            return True
        time.sleep(0.05)
    return False
