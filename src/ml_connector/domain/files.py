"""Export files as the pipeline sees them: listed on the Stampli side, then copied to our disk."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class RemoteFile:
    """A regular file in one of Stampli's outbound folders, as listed."""

    path: str
    size: int
    mtime: datetime  # aware, UTC

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


@dataclass(frozen=True)
class Downloaded:
    """A remote file copied to local disk, with the sha256 of exactly the bytes written."""

    remote: RemoteFile
    local_path: Path
    sha256: str
    size: int
