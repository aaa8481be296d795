"""Settings of the Visma.net client: where to connect, who we are, how long to wait.

``client_secret`` never appears in a repr. Plain ``http://`` is accepted only for loopback hosts
(the local simulator); TLS verification is always on and has no switch to turn it off, but a
custom CA bundle may be given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ml_connector.errors import ConfigError

SERVICE_SCOPES: tuple[str, ...] = (
    "vismanet_erp_service_api:create",
    "vismanet_erp_service_api:delete",
    "vismanet_erp_service_api:read",
    "vismanet_erp_service_api:update",
)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class VismaSettings:
    client_id: str
    client_secret: str = field(repr=False)
    tenant_id: str
    company_id: str
    api_url: str = "https://api.finance.visma.net"
    token_url: str = "https://connect.visma.com/connect/token"  # noqa: S105 (a URL, not a secret)
    scopes: tuple[str, ...] = SERVICE_SCOPES
    timeout: float = 30.0  # seconds; used for connect, read, write and pool alike
    ca_bundle: str | None = None  # PEM file of extra trusted CAs; verification itself is always on
    page_size: int = 1000
    server_timezone: str = "UTC"  # aware datetimes in filters are converted to this zone (docs §3.5 [U])
    token_leeway: float = 60.0  # renew the token this many seconds before it expires
    low_water: int = 10  # start spreading calls when fewer than this many remain in the window

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("client_id", "client_secret", "tenant_id", "company_id"):
            if not getattr(self, name):
                problems.append(f"visma.{name} is empty")
        for name in ("api_url", "token_url"):
            problems.extend(_url_problems(name, getattr(self, name)))
        if self.timeout <= 0:
            problems.append("visma.timeout must be positive")
        if self.page_size < 1:
            problems.append("visma.page_size must be at least 1")
        if not self.scopes:
            problems.append("visma.scopes is empty")
        if problems:
            raise ConfigError("invalid Visma settings", problems=problems)

    @property
    def api_base(self) -> str:
        return self.api_url.rstrip("/")


def _url_problems(name: str, url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.username or parts.password:
        return [f"visma.{name} must not carry credentials"]
    if parts.scheme == "https" and parts.hostname:
        return []
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return []
    return [
        f"visma.{name} must be an https:// URL (plain http only for loopback), got scheme {parts.scheme!r}"
    ]
