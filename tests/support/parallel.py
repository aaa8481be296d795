"""pytest plugin: how the suite is laid out on pytest-xdist workers (`./dev test` runs ``-n 3``).

* Tests that share a module- or class-scoped fixture (a dashboard world, a pair of servers) get one
  ``xdist_group`` per module, so the fixture is built once on one worker instead of once per worker.
* Tests marked ``slow`` (each starts several processes of its own: workers, simulators, sshd) run one
  after another on one worker (``xdist_group("slow")``), collected first so that they start at once
  and are not what a run waits for at its end. Side by side they starved each other on 2 cores (a
  scale-out test timed out waiting for a worker's first claim while both chaos runs were going).

* Test ids never show key material: a key generated at import (``asyncssh.generate_private_key``) is
  another key in every worker, and xdist refuses to run when the workers' test ids differ. A
  parametrized string's id shows ``<key>`` in place of an OpenSSH public key or a SHA256 fingerprint.

Without ``-n`` these change nothing but the order in which tests run and those ids.
"""

from __future__ import annotations

import re

import pytest

SHARED_SCOPES = frozenset({"module", "class", "package"})
KEY_MATERIAL = re.compile(r"AAAA[0-9A-Za-z+/]{20,}={0,3}|SHA256:[0-9A-Za-z+/]{43}=?")


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


@pytest.hookimpl(tryfirst=True)
def pytest_make_parametrize_id(val: object) -> str | None:
    if isinstance(val, str) and KEY_MATERIAL.search(val):
        # the same escaping pytest applies to a string id (non-ASCII and newlines as escapes)
        return KEY_MATERIAL.sub("<key>", val).encode("unicode_escape").decode("ascii")
    return None
