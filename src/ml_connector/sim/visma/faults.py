"""Fault injection and rate-limit settings, and their text syntax.

Fault spec (``--faults`` and ``POST /_sim/faults {"spec": ...}``): comma-separated ``key=value``:

=====================  =====================================================================
``latency=20ms``       delay every API and token response (``ms`` or ``s``; a bare number is ms)
``5xx=0.1``            probability that an API request fails with 500 *before* it is processed
``5xx_next=2``         the next N API requests fail with 500 (deterministic)
``drop_after_commit=0.05``  probability that ``POST /v2/journaltransaction`` (or
                       ``POST /v1/supplierPayment``) commits and then aborts the TCP connection
                       without any response (the ambiguous case)
``drop_next=1``        the next N journal or supplier-payment creates commit and then drop
``token_ttl=2s``       tokens die after this long although ``expires_in`` still says 3600
``seed=42``            seed of the random generator used by the probabilities
``total_count=batches``  what ``totalCount`` of ``GET /v2/journaltransaction`` counts: ``lines``
                       (the default, as Visma documents it) or ``batches`` (pages still count lines)
``no_location=1``      journal and supplier-payment creates answer 201 without a ``Location``
                       header (``0`` turns it off)
=====================  =====================================================================

Rate limit (``--rate-limit``): ``N/SECONDS``, e.g. ``15000/3600`` or ``5/1`` (also ``5/1s``, ``100/1h``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str, default_unit: str = "s") -> float:
    """``20ms`` → 0.02, ``2s`` → 2.0, ``1h`` → 3600.0; a bare number uses ``default_unit``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r} (use e.g. 20ms, 2s, 1h)")
    value = float(match.group(1))
    unit = match.group(2) or default_unit
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def _dec(value: float) -> Decimal:
    return Decimal(repr(round(value, 6))).normalize()


def _probability(key: str, text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} must be a probability between 0 and 1, got {text}")
    return value


def _count(key: str, text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{key} must be a non-negative integer, got {text}")
    return value


@dataclass
class Faults:
    latency: float = 0.0  # seconds
    error_rate: float = 0.0
    error_next: int = 0
    drop_after_commit: float = 0.0
    drop_next: int = 0
    token_ttl: float | None = None  # seconds
    seed: int | None = None
    total_count: str = "lines"  # what a journal listing's totalCount counts: lines | batches
    no_location: bool = False
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        faults = cls()
        faults.update(spec)
        return faults

    def update(self, spec: str | None) -> None:
        """Apply ``key=value`` pairs on top of the current settings."""
        if not spec or not spec.strip():
            return
        for item in spec.split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise ValueError(f"fault {item.strip()!r} needs the form key=value")
            key, _, value = (part.strip() for part in item.partition("="))
            if key == "latency":
                self.latency = parse_duration(value, "ms")
            elif key == "5xx":
                self.error_rate = _probability(key, value)
            elif key == "5xx_next":
                self.error_next = _count(key, value)
            elif key == "drop_after_commit":
                self.drop_after_commit = _probability(key, value)
            elif key == "drop_next":
                self.drop_next = _count(key, value)
            elif key == "token_ttl":
                self.token_ttl = None if value in {"", "none", "off"} else parse_duration(value, "s")
            elif key == "seed":
                self.seed = int(value)
                self.rng.seed(self.seed)
            elif key == "total_count":
                if value not in ("lines", "batches"):
                    raise ValueError(f"total_count must be lines or batches, got {value}")
                self.total_count = value
            elif key == "no_location":
                self.no_location = _count(key, value) > 0
            else:
                raise ValueError(
                    f"unknown fault {key!r}; known: latency, 5xx, 5xx_next, drop_after_commit, "
                    "drop_next, token_ttl, seed, total_count, no_location"
                )

    def take_error(self) -> bool:
        if self.error_next > 0:
            self.error_next -= 1
            return True
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def take_drop(self) -> bool:
        if self.drop_next > 0:
            self.drop_next -= 1
            return True
        return self.drop_after_commit > 0 and self.rng.random() < self.drop_after_commit

    def describe(self) -> dict[str, object]:
        """Current settings (numbers as Decimal: the simulator's JSON writer refuses floats)."""
        return {
            "latency_ms": _dec(self.latency * 1000),
            "5xx": _dec(self.error_rate),
            "5xx_next": self.error_next,
            "drop_after_commit": _dec(self.drop_after_commit),
            "drop_next": self.drop_next,
            "token_ttl_s": None if self.token_ttl is None else _dec(self.token_ttl),
            "seed": self.seed,
            "total_count": self.total_count,
            "no_location": self.no_location,
        }


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: float  # seconds

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        count, sep, window = text.partition("/")
        if not sep:
            raise ValueError(f"invalid rate limit {text!r}; use N/SECONDS, e.g. 15000/3600")
        limit = int(count)
        seconds = parse_duration(window, "s")
        if limit < 1 or seconds <= 0:
            raise ValueError(f"invalid rate limit {text!r}: need N >= 1 and a positive window")
        return cls(limit, seconds)

    def describe(self) -> str:
        return f"{self.limit}/{self.window:g}"


DEFAULT_RATE_LIMIT = RateLimit(15000, 3600.0)
