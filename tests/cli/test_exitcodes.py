"""``run``'s exit code says what a cron job must know (issue 12.5): 0 only when everything that
came in was posted or skipped for a stated reason."""

from __future__ import annotations

from dataclasses import fields

from ml_connector import exitcodes
from ml_connector.errors import ConfigError, NothingEnabledError, SecretError
from ml_connector.pipeline.cycle import CycleResult
from ml_connector.pipeline.intake import IntakeStats


def _cycle(status: str = "ok", **counts: int) -> CycleResult:
    r = CycleResult("acme", status=status)
    intake_fields = {f.name for f in fields(IntakeStats)}
    for name, value in counts.items():
        setattr(r.intake if name in intake_fields else r.posting, name, value)
    return r


def test_clean_run_and_stated_skips_exit_0() -> None:
    ok = _cycle(posted=5, skipped=2, duplicates=3, superseded=1, files_skipped=4)
    assert exitcodes.for_run([ok, _cycle()]) == exitcodes.OK == 0


def test_each_kind_of_trouble_has_its_own_code() -> None:
    assert exitcodes.for_run([_cycle(posted=3, parked=1)]) == exitcodes.PARKED == 3
    assert exitcodes.for_run([_cycle(conflicts=1)]) == exitcodes.PARKED
    assert exitcodes.for_run([_cycle(files_rejected=1)]) == exitcodes.REJECTED == 4
    assert exitcodes.for_run([_cycle(records_rejected=2)]) == exitcodes.REJECTED
    assert exitcodes.for_run([_cycle(unknown=1)]) == exitcodes.NOT_FINISHED == 5
    assert exitcodes.for_run([_cycle(retry_later=1)]) == exitcodes.NOT_FINISHED
    assert exitcodes.for_run([_cycle("partial")]) == exitcodes.FAILED == 1
    assert exitcodes.for_run([_cycle("failed")]) == exitcodes.FAILED


def test_the_lowest_code_wins_across_connections() -> None:
    results = [_cycle(files_rejected=1), _cycle(parked=2), _cycle(unknown=1)]
    assert exitcodes.for_run(results) == exitcodes.PARKED
    assert exitcodes.for_run([*results, _cycle("failed")]) == exitcodes.FAILED


def test_errors_take_their_codes_from_the_one_table() -> None:
    assert ConfigError("x").exit_code == SecretError("x").exit_code == exitcodes.CONFIG == 2
    assert NothingEnabledError("x").exit_code == exitcodes.NOTHING_ENABLED == 6
    assert set(exitcodes.MEANING) == {
        exitcodes.FAILED,
        exitcodes.PARKED,
        exitcodes.REJECTED,
        exitcodes.NOT_FINISHED,
    }
