"""The API's fixed-window rate limit per client and tenant, with Visma's ``x-ratelimit-*`` headers."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_connector.sim.visma.errors import SimHTTPError

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.auth import Token


@dataclass
class Window:
    start: float
    count: int = 0


def count_call(sim: Simulator, token: Token) -> dict[str, str]:
    """Count one API call in its client's fixed window: the rate headers, or 429 once the window is full."""
    now = time.monotonic()
    key = (token.client_id, token.tenant_id)
    window = sim.windows.get(key)
    if window is None or now - window.start >= sim.rate_limit.window:
        window = Window(start=now)
        sim.windows[key] = window
    # window - elapsed, not start + window - now: the latter can round to 60.000…01 and say 61
    reset = max(0, math.ceil(sim.rate_limit.window - (now - window.start)))
    headers = {
        "x-ratelimit-limit": str(sim.rate_limit.limit),
        "x-ratelimit-policy": "4-fixed-window",
        "x-ratelimit-reset": str(reset),
    }
    if window.count >= sim.rate_limit.limit:
        headers["x-ratelimit-remaining"] = "0"
        headers["retry-after"] = str(max(1, reset))
        raise SimHTTPError(
            429,
            {
                "statusCode": 429,
                "message": f"Rate limit is exceeded. Try again in {max(1, reset)} seconds.",
            },
            headers,
        )
    window.count += 1
    headers["x-ratelimit-remaining"] = str(sim.rate_limit.limit - window.count)
    return headers
