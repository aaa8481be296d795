"""The dashboard for the finance team: server-rendered pages and a JSON API under ``/api``.

``create_app(service_app)`` builds it; ``ml_connector.web.server`` runs it (alone or next to the
cycles of ``serve``). Every page and route calls ``ml_connector.service``.
"""

from __future__ import annotations

from ml_connector.web.app import create_app

__all__ = ["create_app"]
