"""The partial-file guard, as pure functions over listings.

A file is *ready* when its name is a candidate (no dot-file, no in-progress suffix, matches the
pattern) and either its mtime is at least ``min_file_age`` old, or its size and mtime were the
same in two listings taken ``stability_wait`` apart.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from ml_connector.domain.files import RemoteFile


def is_candidate(name: str, pattern: str | Sequence[str], ignore_suffixes: Iterable[str]) -> bool:
    """False for dot-files, names with an in-progress suffix, and names matching no ``pattern``."""
    if not name or name.startswith(".") or name in (".", ".."):
        return False
    lowered = name.lower()
    if any(lowered.endswith(suffix.lower()) for suffix in ignore_suffixes):
        return False
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_old_enough(f: RemoteFile, now: datetime, min_file_age: float) -> bool:
    """mtime at least ``min_file_age`` seconds before ``now``. A future mtime never is."""
    return (now - f.mtime).total_seconds() >= min_file_age


def split_by_age(
    listing: Mapping[str, RemoteFile], now: datetime, min_file_age: float
) -> tuple[list[RemoteFile], list[RemoteFile]]:
    """(old enough, too young) in listing order."""
    old: list[RemoteFile] = []
    young: list[RemoteFile] = []
    for f in listing.values():
        (old if is_old_enough(f, now, min_file_age) else young).append(f)
    return old, young


def stable(young: Iterable[RemoteFile], second: Mapping[str, RemoteFile]) -> list[RemoteFile]:
    """The files whose size and mtime did not change between the two listings."""
    return [f for f in young if second.get(f.path) == f]
