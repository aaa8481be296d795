"""A file sent to Visma as multipart/form-data: one part named ``file`` (visma-ap.md §4).

Built here rather than by httpx so that the client's one transport path (token, pacing,
classification, counters) sends uploads like every other request: only the body and its
Content-Type differ.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


def _quoted(name: str) -> str:
    # A file name is a quoted-string in Content-Disposition: no quotes, backslashes or line breaks.
    return "".join("_" if c in '"\\\r\n' else c for c in name)


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes
    content_type: str = "application/pdf"

    def multipart(self) -> tuple[bytes, str]:
        """(body, Content-Type header) of a form with the single part ``file``."""
        boundary = secrets.token_hex(16)
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quoted(self.filename)}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()
        body = head + self.data + f"\r\n--{boundary}--\r\n".encode()
        return body, f"multipart/form-data; boundary={boundary}"
