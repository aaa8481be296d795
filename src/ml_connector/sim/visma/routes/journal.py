"""Journal transactions v2: list, create, read, release, attachments (``/v2/journaltransaction``)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ml_connector.sim.visma.actions import created
from ml_connector.sim.visma.attachments import add_file, file_part
from ml_connector.sim.visma.errors import not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def journal_list(sim: Simulator, request: SimRequest) -> SimResponse:
    body = sim.state.list_journal(
        period_id=request.q_str("periodId"),
        last_modified=request.q_str("lastModifiedDateTime"),
        status=request.q_str("status"),
        branch=request.q_str("branch"),
        module=request.q_str("module"),
        page_number=request.q_int("pageNumber"),
        page_size=request.q_int("pageSize"),
        total_counts_batches=sim.faults.total_count == "batches",
    )
    return json_response(200, body)


def journal_create(sim: Simulator, request: SimRequest) -> SimResponse:
    batch = sim.state.create_journal(request.json())
    return created(sim, f"{request.base_url}/v2/journaltransaction/{batch.batch_number}", batch.version)


def journal_get(sim: Simulator, request: SimRequest) -> SimResponse:
    batch = sim.state.get_journal(request.path_params["journalTransactionNumber"])
    body = sim.state.journal_dto(batch, with_attachments=True)
    return json_response(200, body, {"etag": etag_of(batch.version)})


def journal_release(sim: Simulator, request: SimRequest) -> SimResponse:
    number = request.path_params["journalTransactionNumber"]
    batch = sim.state.release_journal(number, request.headers.get("if-match"))
    return json_response(
        200,
        {"actionId": secrets.token_hex(8), "actionResult": "Done"},
        {"etag": etag_of(batch.version)},
    )


def journal_attach(sim: Simulator, request: SimRequest) -> SimResponse:
    """``multipart/form-data`` with a part named ``file``; the same file name again is a new revision."""
    if request.path_params["module"] not in {"GL", "ModuleGL"}:
        raise not_found(f"Module {request.path_params['module']} has no journal transactions here.")
    batch = sim.state.get_journal(request.path_params["journalTransactionNumber"])
    name, data, content_type = file_part(request.headers.get("content-type", ""), request.body)
    attachment = add_file(batch.attachments, name, data, content_type)
    batch.version = sim.state.next_version()
    batch.last_modified = sim.state.clock.now()
    return json_response(201, attachment.dto(), {"etag": etag_of(batch.version)})


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v2/journaltransaction", journal_list),
    ("POST", "/v2/journaltransaction", journal_create),
    ("GET", "/v2/journaltransaction/{journalTransactionNumber}", journal_get),
    ("POST", "/v2/journaltransaction/{journalTransactionNumber}/action/release", journal_release),
    ("POST", "/v2/journaltransaction/module/{module}/{journalTransactionNumber}/attachment", journal_attach),
]
