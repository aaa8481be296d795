from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """Write a configuration file into tmp_path and return its path."""

    def _write(text: str) -> Path:
        path = tmp_path / "ml-connector.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return _write
