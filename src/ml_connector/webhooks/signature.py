"""The signature Visma puts on a notification: HMAC-SHA256 of the raw body with the subscription's
key, base64-encoded, in a header (docs/deployment.md; the header's name is configurable because
Visma's documentation we found does not give it)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify(key: str, body: bytes, given: str | None) -> bool:
    """Constant time over the signature text; a missing or empty header is never valid."""
    if not given or not key:
        return False
    expected = sign(key, body).encode("ascii")
    return hmac.compare_digest(expected, given.strip().encode("utf-8", "replace"))
