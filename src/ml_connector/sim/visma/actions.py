"""Answers shared by resources: a create's 201, and an action's (``…/action/release``) result.

A create answers 201 with an empty body, ``Location`` and ``ETag``; the create faults apply to it
(``no_location``, ``drop_after_commit``/``drop_next``: committed, then no answer at all).
An action answers 200 with an action result whose ``actionResult`` may be ``Failed`` (with
``errorInfo``), or 202 with a background job's address when it was queued (visma-ap.md §5).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator


def created(sim: Simulator, location: str, version: int) -> SimResponse:
    """201 for a stored create, as the create faults make it (the change is committed either way)."""
    headers = {"location": location, "etag": etag_of(version)}
    if sim.faults.no_location:
        del headers["location"]
    return SimResponse(201, None, headers, drop_connection=sim.faults.take_drop())


def action_response(request: SimRequest, outcome: str, error: str | None, version: int) -> SimResponse:
    """``outcome`` is ``done``, ``failed`` or ``queued``; ``version`` the document's after the action."""
    etag = {"etag": etag_of(version)}
    if outcome == "queued":
        job = secrets.token_hex(8)
        body = {"id": job, "stateLocation": f"{request.base_url}/v1/background/{job}"}
        return json_response(202, body, {**etag, "location": body["stateLocation"]})
    action: dict[str, str] = {"actionId": secrets.token_hex(8), "actionResult": "Done"}
    if outcome == "failed":
        action = {**action, "actionResult": "Failed", "errorInfo": error or "The action failed."}
    return json_response(200, action, etag)
