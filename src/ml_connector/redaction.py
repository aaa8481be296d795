"""The one redactor: every place that keeps secrets out of logs, messages, reprs and pages calls it.

What is masked (with ``***``):

* known secret values: each one registered process-wide as it is resolved (``remember_secret``),
  plus any the caller passes (an SFTP password, a Visma client secret, the current token);
* in free text (``redact``): bearer and basic credentials, ``Authorization`` header values,
  passwords in URLs (``scheme://user:***@host``), form and JSON credential fields, private key blocks;
* in a URL (``redact_url``): the user info, or only its password with ``keep_user=True`` (a ledger
  URL's role name helps the operator), and credential query parameters;
* in HTTP headers (``redact_headers``): credential header values, keeping the scheme.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_SECRETS: set[str] = set()

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
_SECRET_PARAMS = frozenset(
    {
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "password",
        "sslpassword",
        "secret",
    }
)
_FREE_TEXT_FIELDS = "client_secret|access_token|refresh_token|id_token|password"

_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_BEARER = re.compile(r"(?i)(bearer|\bbasic)(\s+)[A-Za-z0-9\-._~+/=]+")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}]+")
_FORM_SECRET = re.compile(rf"(?i)\b({_FREE_TEXT_FIELDS})=([^&\s\"']+)")
_JSON_SECRET = re.compile(rf"(?i)(\"(?:{_FREE_TEXT_FIELDS})\"\s*:\s*\")([^\"]*)(\")")
# scheme://user[:password]@ : the password may hold '/', '?' or '#' when it was not percent-encoded.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@?#\s]*)(?::(?P<pw>[^@\s]*))?@")


def remember_secret(value: str | None) -> None:
    """Mask ``value`` wherever ``redact`` sees it from now on (called as each secret is resolved)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _SECRETS.add(value)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret (registered or given), credential and key block masked."""
    # The shape rules first: a known secret that is also part of a field name (e.g. "secret" in
    # "client_secret=") would otherwise be masked first and hide the field from its rule.
    text = _KEY_BLOCK.sub(MASK, text)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    text = _URL_PASSWORD.sub(rf"\1{MASK}\2", text)
    text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    text = _FORM_SECRET.sub(rf"\1={MASK}", text)
    text = _JSON_SECRET.sub(rf"\1{MASK}\3", text)
    known = _SECRETS.union(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
    for secret in sorted(known, key=len, reverse=True):  # longest first: a secret may contain another
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: object) -> str:
    """``redact(str(value))``; ``""`` for None (free-text columns that may be empty)."""
    return redact(str(value)) if value is not None else ""


def redactor(*secrets: str | None) -> Callable[[str], str]:
    """``redact`` bound to the secrets one component holds (e.g. an SFTP password and passphrase)."""
    return functools.partial(redact, secrets=tuple(secrets))


def redact_url(url: str, *, keep_user: bool = False) -> str:
    """``url`` with its user info (only the password with ``keep_user``) and credential parameters masked.

    ``https://u:pw@host/p?client_secret=x&a=1`` -> ``https://***@host/p?client_secret=***&a=1``;
    with ``keep_user``: ``postgresql://u:***@host/db``. Other parameters keep their encoding.
    """
    m = _USERINFO.match(url)
    if m is not None:
        if not keep_user:
            url = f"{m['scheme']}{MASK}@{url[m.end() :]}"
        elif m["pw"] is not None:
            url = f"{m['scheme']}{m['user']}:{MASK}@{url[m.end() :]}"
    base, sep, rest = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = rest.partition("#")
    pairs = [_mask_param(pair) for pair in query.split("&")]
    return f"{base}?{'&'.join(pairs)}{hash_sep}{fragment}"


def _mask_param(pair: str) -> str:
    name, eq, _value = pair.partition("=")
    return f"{name}={MASK}" if eq and unquote_plus(name).lower() in _SECRET_PARAMS else pair


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
