"""The ledger, the log file and the archived exports are created 0600/0700 whatever the umask
(issue 19, point 11): `run` as an operator runs it, with umask 000."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from tests.pipeline.conftest import Connection, Dataset


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_ledger_log_and_archive_are_private_whatever_the_umask(connection: Connection) -> None:
    c = connection
    data = Dataset.make(3, missing=0)
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", data.invoices_text(data.invoice_ids))
    c.config_path.write_text(
        c.config_path.read_text().replace(
            '[log]\nlevel = "WARNING"', '[log]\nlevel = "INFO"\nfile = "logs.d/mlc.log"'
        )
    )
    (c.workdir / "logs.d").mkdir()
    done = subprocess.run(
        c.cli_argv("run"),
        env=c.cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=c.workdir,
        umask=0,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    c.assert_exactly_once(data.expected(data.invoice_ids, payments=False))

    log = c.workdir / "logs.d" / "mlc.log"
    assert log.stat().st_size > 0 and _mode(log) == "0o600"
    archive = c.workdir / "archive"
    assert _mode(archive) == "0o700" and _mode(archive / c.name) == "0o700"
    archived = [p for p in (archive / c.name).iterdir() if p.is_file()]
    assert len(archived) == 1 and _mode(archived[0]) == "0o600"
    if c.ledger_url.startswith("sqlite:///"):
        ledger = Path(c.ledger_url.removeprefix("sqlite:///"))
        assert _mode(ledger) == "0o600"  # SQLite gives its -wal and -shm files the ledger's mode
