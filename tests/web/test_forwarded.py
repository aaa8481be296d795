"""The dashboard believes X-Forwarded-For and X-Forwarded-Proto only from the proxies the
configuration names (``[dashboard] trusted_proxies``, default none; issue 19, point 10): a local
client cannot pick the address the per-address login limit counts against."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ml_connector import service
from ml_connector.errors import ConfigError
from ml_connector.web.server import uvicorn_config
from tests.config.samples import BASE, ENV
from tests.web.conftest import ServerThread, Web

PER_CLIENT = 20  # LoginLimiter.per_client


def _open(tmp_path: Path, dashboard: str = "") -> service.App:
    cfg = tmp_path / "ml-connector.toml"
    cfg.write_text(
        f'ledger_url = "sqlite:///{tmp_path / "ledger.db"}"\n{dashboard}\n{BASE}', encoding="utf-8"
    )
    return service.open_app(cfg, environ=ENV)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., str]]:
    started: list[tuple[service.App, ServerThread]] = []

    def start(dashboard: str = "") -> str:
        app = _open(tmp_path, dashboard)
        server = ServerThread(uvicorn_config(app, "127.0.0.1", 0)).start()
        started.append((app, server))
        return f"http://127.0.0.1:{server.port}"

    yield start
    for app, server in started:
        server.stop()
        app.close()


def _failed_logins_from_many_addresses(base: str) -> list[int]:
    """PER_CLIENT + 1 wrong logins, each for another user and claiming another client address."""
    web = Web(base)
    codes = []
    for i in range(PER_CLIENT + 1):
        web.http.headers["X-Forwarded-For"] = f"198.51.100.{i + 1}"
        codes.append(web.login(f"nobody{i}", "not-the-password").status_code)
    web.close()
    return codes


def test_forwarded_for_is_ignored_unless_the_proxy_is_configured(serve: Callable[..., str]) -> None:
    base = serve()
    codes = _failed_logins_from_many_addresses(base)
    assert codes[:PER_CLIENT] == [401] * PER_CLIENT
    assert codes[PER_CLIENT] == 429  # all counted against 127.0.0.1, whatever the header says
    web = Web(base)
    web.http.headers["X-Forwarded-Proto"] = "https"
    page = web.http.get("/login")
    assert "Secure" not in page.headers["set-cookie"]  # not over TLS, whatever the header says
    web.close()


def test_a_configured_proxy_is_believed(serve: Callable[..., str]) -> None:
    base = serve('[dashboard]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n')
    assert _failed_logins_from_many_addresses(base) == [401] * (PER_CLIENT + 1)
    web = Web(base)
    web.http.headers["X-Forwarded-Proto"] = "https"
    assert "Secure" in web.http.get("/login").headers["set-cookie"]
    web.close()


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _open(tmp_path, '[dashboard]\ntrusted_proxies = ["*", "proxy.local", "10.0.0.1/8"]\n')
    problems = "\n".join(err.value.problems)
    for bad in ("'*'", "'proxy.local'", "'10.0.0.1/8'"):
        assert f"{bad} is not an IP address or network" in problems
