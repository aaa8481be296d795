"""The operations behind every entry point (CLI, dashboard, workers): no business logic elsewhere.

``open_app`` loads the configuration and the ledger once; the functions act on the ``App``.

    app.py         App, open_app, the remembering secret resolver
    operations.py  run_once, status, failures, replay_failures, preview, reconcile_period, check, serve
    views.py       what the dashboard shows: search_documents, document_detail, overview, ...
"""

from ml_connector.service.app import SETTLE_AFTER_ENV, App, RememberingResolver, open_app, profile_problems
from ml_connector.service.operations import (
    CheckRow,
    check,
    failures,
    preview,
    reconcile_period,
    replay_failures,
    run_once,
    serve,
    status,
)
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
