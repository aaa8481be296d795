"""Pinned SSH host keys: the one parser, used by config validation and by the SFTP adapter.

A pin (``host_key``) is one or more lines (blank lines and ``#`` comments are skipped), each one of:

* an OpenSSH public key line, ``ssh-ed25519 AAAAC3Nz... [comment]``, as printed by
  ``ssh-keyscan -t ed25519 HOST`` (without the leading host name) or found in ``/etc/ssh/ssh_host_*.pub``;
* a ``known_hosts`` line (``[host]:port ssh-ed25519 AAAA...``, hashed ``|1|...`` host patterns and
  ``@revoked`` / ``@cert-authority`` markers included): the SFTP adapter binds it to its hosts;
* an OpenSSH SHA256 fingerprint, ``SHA256:`` followed by 43 base64 characters, as printed by
  ``ssh-keygen -lf KEYFILE`` or shown by ``ssh`` on first connection.

Parsing needs no SSH library; the adapter turns the parsed lines into asyncssh objects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-ed448",
        "ssh-rsa",
        "rsa-sha2-256",
        "rsa-sha2-512",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
#: The all-zero ed25519 key ``ml-connector init`` writes: well-formed, but no server has it, so a
#: connection is refused until the operator pins the real key.
PLACEHOLDER_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_MARKERS = frozenset({"@revoked", "@cert-authority"})


class HostKeyFormatError(ValueError):
    """A pin that is not one of the accepted forms; ``line`` is the offending line (None: empty pin)."""

    def __init__(self, message: str, line: str | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True)
class PinnedHostKey:
    """A parsed ``host_key``. ``public_key`` is ``"<type> <base64>"`` or None for a fingerprint pin."""

    fingerprint: str  # "SHA256:..." without padding, as OpenSSH and asyncssh print it
    key_type: str | None
    public_key: str | None

    @property
    def is_placeholder(self) -> bool:
        """True for the template's all-zero key: tell the operator to pin the real one."""
        return self.public_key == PLACEHOLDER_HOST_KEY


@dataclass(frozen=True, slots=True)
class PinLine:
    """One line of a pin: the key (or fingerprint) and, for a known_hosts line, its hosts and marker."""

    key: PinnedHostKey
    hosts: str | None = None  # the known_hosts host field; None for a bare key or a fingerprint
    marker: str | None = None  # "@revoked" or "@cert-authority"

    @property
    def known_hosts_line(self) -> str | None:
        """The line as ``known_hosts`` reads it (the key under its own type), or None."""
        if self.hosts is None:
            return None
        return " ".join(x for x in (self.marker, self.hosts, self.key.public_key) if x)


def parse_pin(text: str) -> list[PinLine]:
    """Every line of a pin, or ``HostKeyFormatError`` saying which form is expected."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise HostKeyFormatError("is empty; pin the server's host key (ssh-keyscan -t ed25519 HOST)")
    return [_parse_line(line) for line in lines]


def parse_host_key(text: str) -> PinnedHostKey:
    """The first key a pin trusts (the configuration's view), or raise ``HostKeyFormatError``."""
    pins = parse_pin(text)
    trusted = [p.key for p in pins if p.marker != "@revoked"]
    if not trusted:
        raise HostKeyFormatError("only revokes keys; pin the server's host key as well", text.strip())
    return trusted[0]


def _parse_line(line: str) -> PinLine:
    try:
        return _parse_fields(line.split())
    except HostKeyFormatError as exc:
        raise HostKeyFormatError(str(exc), line) from None


def _parse_fields(fields: list[str]) -> PinLine:
    if fields[0].startswith("SHA256:"):
        if not _FINGERPRINT.match(fields[0]):
            raise HostKeyFormatError(
                "looks like a SHA256 fingerprint but is not 'SHA256:' + 43 base64 characters"
            )
        return PinLine(PinnedHostKey(fingerprint=fields[0].rstrip("="), key_type=None, public_key=None))
    if fields[0].upper().startswith("MD5:") or re.match(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$", fields[0], re.I):
        raise HostKeyFormatError(
            "MD5 fingerprints are too weak to pin; use the public key or a SHA256: fingerprint"
        )
    marker = fields[0] if fields[0] in _MARKERS else None
    rest = fields[1:] if marker else fields
    # '<type> <base64>' is a bare key; '<hosts> <type> <base64>' a known_hosts line.
    if rest and rest[0] in KEY_TYPES and marker is None:
        hosts = None
    elif len(rest) >= 2 and rest[1] in KEY_TYPES:
        hosts, rest = rest[0], rest[1:]
    else:
        if rest and rest[-1] in KEY_TYPES:
            raise HostKeyFormatError(f"has the key type {rest[-1]} but no base64 key after it")
        raise HostKeyFormatError(
            "is not a recognizable host key: expected '<type> <base64>' (e.g. ssh-ed25519 AAAA...)"
            " or a SHA256:... fingerprint"
        )
    if len(rest) < 2:
        raise HostKeyFormatError(f"has the key type {rest[0]} but no base64 key after it")
    return PinLine(_public_key(rest[0], rest[1]), hosts, marker)


def _public_key(key_type: str, b64: str) -> PinnedHostKey:
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise HostKeyFormatError(f"the {key_type} key is not valid base64") from None
    embedded = _embedded_type(blob)
    if embedded is None:
        raise HostKeyFormatError(f"the {key_type} key data is truncated or not an SSH public key")
    if embedded != key_type and not (key_type.startswith("rsa-sha2-") and embedded == "ssh-rsa"):
        raise HostKeyFormatError(f"the key data is a {embedded} key, not {key_type}")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PinnedHostKey(fingerprint=f"SHA256:{digest}", key_type=embedded, public_key=f"{embedded} {b64}")


def _embedded_type(blob: bytes) -> str | None:
    """The key type string that starts every SSH wire-format public key."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or length > 64 or len(blob) < 4 + length + 4:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None
