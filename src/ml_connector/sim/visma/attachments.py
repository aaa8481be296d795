"""Document attachments as Visma keeps them: one attachment per file name, a new revision on each upload.

Uploads are ``multipart/form-data`` with one part named ``file`` carrying the file name (visma-ap.md §4).
Visma shows an attachment as ``{name, id, revision}``; the simulator also keeps every revision's bytes
so tests can compare size and SHA-256 (``/_sim/``), since a client once corrupted PDFs on upload.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ml_connector.sim.visma.errors import SimHTTPError, bad_request

_IDS = itertools.count(1)


@dataclass
class Revision:
    data: bytes
    content_type: str

    def describe(self, number: int) -> dict[str, Any]:
        return {
            "revision": number,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "contentType": self.content_type,
        }


@dataclass
class Attachment:
    attachment_id: str
    name: str
    revisions: list[Revision] = field(default_factory=list)

    def dto(self) -> dict[str, Any]:
        """Visma's AttachmentDto: name, id and revision (no size or hash)."""
        return {"name": self.name, "id": self.attachment_id, "revision": len(self.revisions)}

    def describe(self) -> dict[str, Any]:
        return {**self.dto(), "revisions": [r.describe(i) for i, r in enumerate(self.revisions, start=1)]}


def add_file(attachments: dict[str, Attachment], name: str, data: bytes, content_type: str) -> Attachment:
    """Store an upload in a document's attachments (by file name): same name, next revision."""
    attachment = attachments.get(name)
    if attachment is None:
        attachment = Attachment(f"att-{next(_IDS):06d}", name)
        attachments[name] = attachment
    attachment.revisions.append(Revision(data, content_type))
    return attachment


def file_part(content_type: str, body: bytes) -> tuple[str, bytes, str]:
    """(file name, bytes, content type) of the multipart part named ``file``."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise SimHTTPError(415, {"message": f"An attachment is multipart/form-data, not '{content_type}'."})
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    for part in message.iter_parts() if message.is_multipart() else []:
        if not isinstance(part, Message) or part.get_param("name", header="content-disposition") != "file":
            continue
        name = part.get_filename()
        if not name:
            raise bad_request("The 'file' part has no file name.")
        payload = part.get_payload(decode=True)
        return name, payload if isinstance(payload, bytes) else b"", part.get_content_type()
    raise bad_request("No file: send multipart/form-data with a part named 'file'.")
