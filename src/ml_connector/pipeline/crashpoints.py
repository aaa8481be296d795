"""Named durable boundaries where the crash tests kill the process (SIGKILL).

``ML_CONNECTOR_CRASH_AT=after_claim:3`` kills this process the third time it reaches
``after_claim``. Unset (always, in production) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

BOUNDARIES = ("after_download", "after_claim", "after_send", "after_record", "after_release")
_hits: Counter[str] = Counter()


def crashpoint(name: str) -> None:
    spec = os.environ.get("ML_CONNECTOR_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
