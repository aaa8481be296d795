"""Pinned SSH host keys: recognise the forms we accept and derive the SHA256 fingerprint.

Accepted forms of ``host_key``:

* an OpenSSH public key line, ``ssh-ed25519 AAAAC3Nz... [comment]``, as printed by
  ``ssh-keyscan -t ed25519 HOST`` (without the leading host name) or found in ``/etc/ssh/ssh_host_*.pub``;
  a ``known_hosts`` line (``host ssh-ed25519 AAAA...``) is accepted too and its host part ignored;
* an OpenSSH SHA256 fingerprint, ``SHA256:`` followed by 43 base64 characters, as printed by
  ``ssh-keygen -lf KEYFILE`` or shown by ``ssh`` on first connection.
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


class HostKeyFormatError(ValueError):
    pass


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


def parse_host_key(text: str) -> PinnedHostKey:
    """Parse a pinned host key, or raise ``HostKeyFormatError`` saying what form is expected."""
    text = text.strip()
    if not text:
        raise HostKeyFormatError("is empty; pin the server's host key (ssh-keyscan -t ed25519 HOST)")
    if text.startswith("SHA256:"):
        if not _FINGERPRINT.match(text):
            raise HostKeyFormatError(
                "looks like a SHA256 fingerprint but is not 'SHA256:' + 43 base64 characters"
            )
        return PinnedHostKey(fingerprint=text.rstrip("="), key_type=None, public_key=None)
    if text.upper().startswith("MD5:") or re.match(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$", text, re.I):
        raise HostKeyFormatError(
            "MD5 fingerprints are too weak to pin; use the public key or a SHA256: fingerprint"
        )
    fields = text.split()
    # Find the key type; anything before it is a known_hosts host pattern and is ignored.
    i = next((n for n, f in enumerate(fields) if f in KEY_TYPES), None)
    if i is None:
        raise HostKeyFormatError(
            "is not a recognizable host key: expected '<type> <base64>' (e.g. ssh-ed25519 AAAA...)"
            " or a SHA256:... fingerprint"
        )
    if i + 1 >= len(fields):
        raise HostKeyFormatError(f"has the key type {fields[i]} but no base64 key after it")
    key_type, b64 = fields[i], fields[i + 1]
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
