"""Shared test configuration. Fixture plugins for the real external components live in tests/support/."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.openssh",
    "tests.support.parallel",
    "tests.support.postgres",
    "tests.support.visma_sim",
]

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "src" / "ml_connector" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES
