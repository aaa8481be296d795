"""pytest plugin: how the suite is laid out on pytest-xdist workers (`./dev test` runs ``-n 3``).

* Tests that share a module- or class-scoped fixture (a dashboard world, a pair of servers) get one
  ``xdist_group`` per module, so the fixture is built once on one worker instead of once per worker.
* Tests marked ``slow`` (each starts several processes of its own: workers, simulators, sshd) run one
  after another on one worker (``xdist_group("slow")``), collected first so that they start at once
  and are not what a run waits for at its end. Side by side they starved each other on 2 cores (a
  scale-out test timed out waiting for a worker's first claim while both chaos runs were going).

Without ``-n`` both change nothing but the order in which tests run.
"""

from __future__ import annotations

import pytest

SHARED_SCOPES = frozenset({"module", "class", "package"})


def shares_fixture(item: pytest.Item) -> bool:
    """True when the test uses a fixture built once for several tests of its module."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in info.names_closure:
        defs = info.name2fixturedefs.get(name)
        if defs and defs[-1].scope in SHARED_SCOPES:
            return True
    return False


def group_shared_fixtures(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None and shares_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def slow_first_on_one_worker(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("slow"))
    # A stable sort: the order within each part stays the collection order (the same on every worker).
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    group_shared_fixtures(items)
    slow_first_on_one_worker(items)
