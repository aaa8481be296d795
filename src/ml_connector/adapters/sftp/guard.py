"""The partial-file guard, as pure functions over listings.

A file is *ready* when its name is a candidate (no dot-file, no in-progress suffix, matches the
pattern) and either its mtime is at least ``min_file_age`` old, or its size and mtime were the
same in two listings taken ``stability_wait`` apart.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from ml_connector.domain.files import RemoteFile


def candidate_matcher(pattern: str | Sequence[str], ignore_suffixes: Iterable[str]) -> Callable[[str], bool]:
    """``is_candidate`` with its patterns and suffixes compiled once: a listing calls it per name,
    and a folder of 10,000 processed files is 10,000 names every poll."""
    patterns = (pattern,) if isinstance(pattern, str) else tuple(pattern)
    # fnmatch.translate anchors each pattern (``(?s:...)\Z``); case-sensitive, as fnmatchcase.
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)) if patterns else None
    suffixes = tuple(suffix.lower() for suffix in ignore_suffixes)

    def matches(name: str) -> bool:
        if not name or name[0] == "." or name.lower().endswith(suffixes):
            return False
        return regex is not None and regex.match(name) is not None

    return matches


def is_candidate(name: str, pattern: str | Sequence[str], ignore_suffixes: Iterable[str]) -> bool:
    """False for dot-files, names with an in-progress suffix, and names matching no ``pattern``."""
    return candidate_matcher(pattern, ignore_suffixes)(name)


def is_old_enough(f: RemoteFile, now: datetime, min_file_age: float) -> bool:
    """mtime at least ``min_file_age`` seconds before ``now``. A future mtime never is."""
    return (now - f.mtime).total_seconds() >= min_file_age


def split_by_age(
    listing: Mapping[str, RemoteFile], now: datetime, min_file_age: float
) -> tuple[list[RemoteFile], list[RemoteFile]]:
    """(old enough, too young) in listing order: ``is_old_enough`` as one cutoff for the listing."""
    cutoff = now - timedelta(seconds=min_file_age)
    old: list[RemoteFile] = []
    young: list[RemoteFile] = []
    for f in listing.values():
        (old if f.mtime <= cutoff else young).append(f)
    return old, young


def stable(young: Iterable[RemoteFile], second: Mapping[str, RemoteFile]) -> list[RemoteFile]:
    """The files whose size and mtime did not change between the two listings."""
    return [f for f in young if second.get(f.path) == f]
