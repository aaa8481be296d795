"""The operations behind every entry point (CLI, dashboard, workers): no business logic elsewhere.

``open_app`` loads the configuration and the ledger once; the functions act on the ``App``.

    app.py         App, open_app, the remembering secret resolver
    operations.py  run_once, status, failures, replay_failures, reconcile_period, check, serve
    checks.py      what ``check`` verifies on both sides and in the ledger
    preview.py     preview: what `run` would do with a local file
    views.py       what the dashboard shows: search_documents, document_detail, overview, ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_connector.service.app import (
        SETTLE_AFTER_ENV,
        App,
        RememberingResolver,
        open_app,
        profile_problems,
    )
    from ml_connector.service.checks import CheckRow
    from ml_connector.service.operations import (
        check,
        failures,
        reconcile_period,
        replay_failures,
        run_once,
        serve,
        status,
    )
    from ml_connector.service.preview import preview
    from ml_connector.service.views import (
        connections,
        daily_counts,
        document_detail,
        failure_list,
        last_check,
        overview,
        rate_budget,
        run_checks,
        search_documents,
    )

# Each name's module, imported on first use: ``from ml_connector import service`` costs nothing, so a
# command that needs none of it (``--help``, ``config``, ``secrets``) starts without the web stack,
# the ledger's engine or the SFTP client.
_HOMES = {
    "app": ("SETTLE_AFTER_ENV", "App", "RememberingResolver", "open_app", "profile_problems"),
    "checks": ("CheckRow",),
    "operations": ("check", "failures", "reconcile_period", "replay_failures", "run_once", "serve", "status"),
    "preview": ("preview",),
    "views": (
        "connections",
        "daily_counts",
        "document_detail",
        "failure_list",
        "last_check",
        "overview",
        "rate_budget",
        "run_checks",
        "search_documents",
    ),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "SETTLE_AFTER_ENV",
    "App",
    "CheckRow",
    "RememberingResolver",
    "check",
    "connections",
    "daily_counts",
    "document_detail",
    "failure_list",
    "failures",
    "last_check",
    "open_app",
    "overview",
    "preview",
    "profile_problems",
    "rate_budget",
    "reconcile_period",
    "replay_failures",
    "run_checks",
    "run_once",
    "search_documents",
    "serve",
    "status",
]
