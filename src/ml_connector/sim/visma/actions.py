"""The answer to an action (``…/action/release``) in the supplier ledger, shared by invoices and payments.

Visma answers 200 with an action result whose ``actionResult`` may be ``Failed`` (with ``errorInfo``),
or 202 with a background job's address when the action was queued (visma-ap.md §5).
"""

from __future__ import annotations

import secrets

from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of


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
