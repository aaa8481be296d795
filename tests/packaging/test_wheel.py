"""The installed package is the tested one (issue 19, point 3): build the wheel with the project's
own build backend, install it into a fresh virtualenv, start ``serve`` and ``dashboard`` from that
virtualenv's console script and fetch a page and a static file from each.

Kept lean: the wheel is built without build isolation (the backend is a test dependency), and the
fresh virtualenv reuses the already-installed *dependencies* through a path entry; the product
itself comes only from the wheel (asserted: the editable install's hook is not active there, and
``ml_connector`` imports from the fresh virtualenv). pip resolves the wheel's dependencies offline.
"""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from ml_connector.config import PLACEHOLDER_HOST_KEY
from tests.config.samples import ENV
from tests.web.conftest import free_socket

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "src" / "ml_connector"


def _build_wheel(out: Path) -> Path:
    """PEP 517 ``build_wheel`` of the declared backend, on a copy of the sources (the build writes
    ``build/`` and ``*.egg-info`` next to them, and other test runs may build at the same time)."""
    project = out / "project"
    project.mkdir()
    shutil.copy(REPO / "pyproject.toml", project)
    shutil.copy(REPO / "README.md", project)
    shutil.copytree(PACKAGE, project / "src" / "ml_connector", ignore=shutil.ignore_patterns("__pycache__"))
    backend = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["build-backend"]
    code = f"import importlib, sys; print(importlib.import_module({backend!r}).build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out / "dist")],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "dist" / done.stdout.strip().splitlines()[-1]


def _data_files() -> set[str]:
    """Every non-Python file of the package, as a wheel path."""
    return {
        "ml_connector/" + p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


def _fresh_venv(root: Path, wheel: Path) -> Path:
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies installed here already, as a plain path entry: .pth files in that folder (the
    # editable install's hook among them) are not processed, so the product is not importable from it.
    (Path(purelib) / "_reuse_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    where = subprocess.run(
        [str(python), "-c", "import ml_connector; print(ml_connector.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    ).stdout.strip()
    assert where.startswith(purelib), f"ml_connector imported from {where}, not from the wheel"
    return venv


class _RefusingVisma:
    """A token endpoint on loopback that refuses every client (401 invalid_client): the cycles of
    ``serve`` stop at once with a fatal error instead of retrying, so SIGTERM ends it promptly."""

    def __init__(self) -> None:
        class Refuse(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = b'{"error": "invalid_client"}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _config(root: Path, visma_port: int) -> Path:
    cfg = root / "ml-connector.toml"
    cfg.write_text(
        f"""ledger_url = "sqlite:///{root / "ledger.db"}"

[log]
level = "WARNING"

[connections.acme]
stampli_company_id = "C100234"

[connections.acme.sftp]
host = "127.0.0.1"
port = 9
username = "acme"
password = "env:ACME_SFTP_PASSWORD"
host_key = "{PLACEHOLDER_HOST_KEY}"

[connections.acme.visma]
api_url = "http://127.0.0.1:{visma_port}/API"
token_url = "http://127.0.0.1:{visma_port}/token"
client_id = "isv_acme"
client_secret = "env:ACME_VISMA_SECRET"
tenant_id = "af1140c1-52e0-46c7-b684-df894d4b8a5a"
company_id = "1234567"

[connections.acme.mapping]
credit_account = "2460"
""",
        encoding="utf-8",
    )
    return cfg


def _port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _start(venv: Path, cfg: Path, command: str) -> tuple[subprocess.Popen[str], str]:
    port = _port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ML_CONNECTOR_CONFIG")}
    proc = subprocess.Popen(
        [str(venv / "bin" / "ml-connector"), command, "-c", str(cfg), "--port", str(port)],
        env={**env, **ENV},
        cwd=cfg.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _fetch_pages(proc: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        try:
            page = httpx2.get(base + "/login", timeout=5)
            break
        except httpx2.TransportError:
            assert time.monotonic() < deadline, "the dashboard did not come up"
            time.sleep(0.1)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text, page.text[:500]
    css = httpx2.get(base + "/static/style.css", timeout=5)
    assert css.status_code == 200 and css.text == (PACKAGE / "web" / "static" / "style.css").read_text()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(root)
    yield wheel, _fresh_venv(root, wheel)


def test_the_wheel_holds_every_data_file(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = sorted(_data_files() - names)
    assert not missing, f"not in the wheel (add them to [tool.setuptools.package-data]): {missing}"
    assert "ml_connector/web/templates/failures.html" in names  # the check above checks something


def test_serve_and_dashboard_from_the_installed_wheel(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    visma = _RefusingVisma()
    started = []
    try:
        for command in ("dashboard", "serve"):  # started together: their start-up overlaps
            (tmp_path / command).mkdir()
            started.append(_start(venv, _config(tmp_path / command, visma.port), command))
        for proc, base in started:
            _fetch_pages(proc, base)
    finally:
        for proc, _ in started:
            _stop(proc)
        visma.close()
