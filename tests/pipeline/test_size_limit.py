"""A file over the size limit is reported without being downloaded, and taken in once the limit
is raised: nothing that large reaches our disk, nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ml_connector.pipeline.cycle import run_cycle
from tests.pipeline.conftest import Connection, Dataset


def _use_profile(c: Connection, max_file_bytes: int) -> None:
    c.write_config()
    text = c.config_path.read_text().replace('profile = "canonical"', 'profile = "capped"')
    text += f"\n[profiles.capped]\nlimits = {{ max_file_bytes = {max_file_bytes} }}\n"
    c.config_path.write_text(text)


def test_too_large_file_is_never_downloaded_then_taken_in_after_the_limit_is_raised(
    connection: Connection,
) -> None:
    c = connection
    data = Dataset.make(6)
    name = "stampli_invoices_C100234_20250331T071500Z_0001.csv"
    big = c.put_invoices(name, data.invoices_text(data.invoice_ids))
    size = big.stat().st_size
    _use_profile(c, max_file_bytes=size - 1)

    app = c.open_app()
    rt = app.runtime(c.name)
    first = asyncio.run(run_cycle(rt))
    assert first.intake.files_rejected == 1 and first.intake.files_new == 0
    assert not list(Path(rt.archive_dir).glob("*.csv")), "the file must not be downloaded"
    (failure,) = app.ledger.open_failures(c.name)
    assert failure.code == "file_too_large"
    assert f"{size:,} bytes" in failure.reason and "raise the limit" in failure.reason
    again = asyncio.run(run_cycle(rt))  # still too large: reported once, not every cycle
    assert again.intake.files_rejected == 0 and len(app.ledger.open_failures(c.name)) == 1
    app.close()

    _use_profile(c, max_file_bytes=size)  # the operator raises the limit
    app = c.open_app()
    rt = app.runtime(c.name)
    third = asyncio.run(run_cycle(rt))
    assert third.intake.files_new == 1 and third.posting.posted == 6
    assert app.ledger.open_failures(c.name) == []
    c.assert_exactly_once(data.expected(data.invoice_ids, payments=False))
