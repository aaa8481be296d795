"""Who holds a claim on a document (``host:pid``) and when another worker may take it over."""

from __future__ import annotations

import os
import socket
from datetime import datetime


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_dead(claimed_by: str | None, claim_expires: datetime | None, now: datetime) -> bool:
    """A claim can be taken over when its lease ran out, or its process on this host is gone."""
    if claimed_by is None or claim_expires is None or claim_expires <= now:
        return True
    host, _, pid = claimed_by.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False
