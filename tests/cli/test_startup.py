"""The command line starts without the machinery no command needs before it runs."""

from __future__ import annotations

import json
import subprocess
import sys

# The dashboard's framework, the SSH client, the ledger's engine and the migrations: imported by the
# commands that use them, when they run.
HEAVY = ("fastapi", "asyncssh", "alembic", "procrastinate", "ml_connector.service.app", "ml_connector.wiring")


def test_loading_the_command_line_imports_no_heavy_package() -> None:
    code = (
        "import json, sys\n"
        "import ml_connector.entrypoints.cli\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_help_lists_every_command_group() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from ml_connector.entrypoints.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for group in ("demo", "run", "status", "users", "vendors", "masterdata", "secrets", "sim", "ledger"):
        assert group in done.stdout, group
