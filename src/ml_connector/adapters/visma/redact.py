"""Keep secrets out of logs, reprs and exception messages.

Three helpers: ``redact_headers`` masks credential headers, ``redact_url`` strips user info and
masks credential query parameters, and ``redact_text`` replaces known secret values (the client
secret, the current access token) and bearer tokens wherever they occur in free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
_SECRET_PARAMS = frozenset(
    {"client_secret", "access_token", "refresh_token", "id_token", "token", "code", "password", "secret"}
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*")
_FORM_SECRET = re.compile(r"(?i)\b(client_secret|access_token|refresh_token|password)=([^&\s\"']+)")
_JSON_SECRET = re.compile(
    r"(?i)(\"(?:client_secret|access_token|refresh_token|password)\"\s*:\s*\")([^\"]*)(\")"
)


def redact_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential values masked (``Authorization: Bearer ***``)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in items:
        if name.lower() in _SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {MASK}" if scheme else MASK
        else:
            out[name] = value
    return out


def redact_url(url: str) -> str:
    """``url`` without user info and with credential query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret value, bearer token and form/JSON credential masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _FORM_SECRET.sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _JSON_SECRET.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
