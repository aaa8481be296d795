"""Files and folders only the service account may read: the ledger (SQLite), the log file and the
archived exports hold supplier bank details and amounts. They are created 0600 (files) and 0700
(folders) whatever the process umask; files and folders that exist already keep their mode."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 unless it exists (then it is left as it is)."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # the umask can only take bits away; this puts back what it took
        finally:
            os.close(fd)
    return path


def private_dir(path: Path) -> Path:
    """``mkdir -p``; every folder it creates is 0700. Existing folders are left as they are."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            folder.mkdir(mode=DIR_MODE)
            os.chmod(folder, DIR_MODE)
    return path


def make_private(path: Path) -> None:
    """A file we just wrote (an archived export): 0600."""
    os.chmod(path, FILE_MODE)
