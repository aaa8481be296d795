"""Parking has one shape: a voucher that cannot be built raises Unpostable carrying Problems."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ml_connector.config.model import ConnectionConfig, PostingConfig
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.periods import choose_period
from tests.ledger.test_identity import _cfg as connection_config


def _cfg(policy: str = "park") -> ConnectionConfig:
    return replace(connection_config(), posting=PostingConfig(closed_period_policy=policy))  # type: ignore[arg-type]


MD = MasterData(
    company_id="1234567",
    periods={
        "202503": (True, {"closed_in_gl": True}),
        "202504": (True, {"closed_in_gl": False, "start_date": "2025-04-01"}),
    },
)


def test_a_closed_period_is_a_problem_for_the_visma_administrator() -> None:
    with pytest.raises(Unpostable) as exc:
        choose_period(date(2025, 3, 14), MD, _cfg())
    [problem] = exc.value.problems
    assert (problem.category, problem.code, problem.missing) == (
        Category.VISMA_MASTER_DATA,
        "period_closed",
        (("period", "202503"),),
    )
    assert "financial period 202503 is closed in Visma company 1234567" in problem.reason
    with pytest.raises(Unpostable) as exc:
        choose_period(date(2025, 7, 1), MD, _cfg())
    assert [p.code for p in exc.value.problems] == ["period_missing"]


def test_next_open_policy_posts_instead_of_parking() -> None:
    assert choose_period(date(2025, 3, 14), MD, _cfg("next_open")) == ("202504", date(2025, 4, 1))


def test_unpostable_carries_every_problem_and_needs_one() -> None:
    a = Problem(Category.MAPPING, "tax_code_unmapped", "tax code 9 has no input VAT account")
    b = Problem(Category.SOURCE_DATA, "unbalanced", "the voucher does not balance")
    err = Unpostable(a, b)
    assert err.problems == (a, b)
    assert str(err) == f"{a.reason}; {b.reason}"
    with pytest.raises(ValueError):
        Unpostable()
