"""Our own copies of what Stampli's server delivered (export files, invoice images), named by content.

Replays and attachments read these, never Stampli's server again."""

from __future__ import annotations

import shutil
from pathlib import Path

from ml_connector.domain.files import Downloaded
from ml_connector.private_files import make_private


def archive_download(archive_dir: Path, dl: Downloaded) -> Path:
    """Move a download into ``archive_dir`` as ``<sha256[:16]>-<name>`` (0600); the same content
    already archived is kept and the download dropped."""
    name = Path(dl.remote.path).name
    target = archive_dir / f"{dl.sha256[:16]}-{name}"
    if not target.exists():
        make_private(dl.local_path)  # 0600 before it gets its final name
        shutil.move(str(dl.local_path), target)
    else:
        dl.local_path.unlink(missing_ok=True)
    return target
