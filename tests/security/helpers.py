"""Search helpers for the leak tests: a secret in plain text, base64 (any alignment) or URL-encoded."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

REPO = Path(__file__).resolve().parents[2]


def needles(secret: str) -> set[bytes]:
    """Every byte string that betrays ``secret``: itself, URL-encoded, and its base64 (standard and
    URL-safe) at each of the three alignments it can have inside a longer base64 text."""
    raw = secret.encode("utf-8")
    out = {raw, quote(secret, safe="").encode(), quote_plus(secret).encode()}
    for pad in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * pad + raw)
            # drop the characters that depend on the padding before and on what follows after
            start = (pad * 8 + 5) // 6
            end = ((pad + len(raw)) * 8) // 6
            core = text[start:end]
            if len(core) >= 8:
                out.add(core)
    return out


def find_leaks(blob: bytes, secrets: Mapping[str, str]) -> list[str]:
    found = []
    for label, secret in secrets.items():
        for needle in needles(secret):
            if needle in blob:
                found.append(f"{label} as {needle!r}")
    return found


def files_under(*roots: Path) -> Iterable[Path]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield path


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    env.update(extra)
    return env


def cli(
    *args: str, env: Mapping[str, str], input: str | None = None, cwd: Path = REPO, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_connector", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        cwd=cwd,
    )
