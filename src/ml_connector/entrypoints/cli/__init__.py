"""``ml-connector`` command line. Each command group lives in its own module."""

from __future__ import annotations

import sys

from ml_connector.domain.money import money_context
from ml_connector.entrypoints.cli import (  # noqa: F401  (importing registers the commands)
    config_cmd,
    demo_cmd,
    inspect_cmd,
    ledger_cmd,
    masterdata_cmd,
    ops_cmd,
    secrets_cmd,
    sftp_cmd,
    users_cmd,
    vendors_cmd,
    visma_cmd,
    web_cmd,
    worker_cmd,
)
from ml_connector.entrypoints.cli.app import app
from ml_connector.errors import ConnectorError


def main() -> None:
    """Console-script entry: one place maps errors to exit codes and clean messages."""
    try:
        with money_context():  # every command computes amounts under the trapping decimal context
            app()
    except ConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
