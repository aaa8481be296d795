"""The SUBACCOUNT dimension, its segments and segment values: ``/v1/dimension``."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from ml_connector.sim.visma.errors import SimHTTPError, bad_request, not_found
from ml_connector.sim.visma.http import SimRequest, SimResponse, json_response
from ml_connector.sim.visma.state import etag_of, if_match_ok, modified_filter, unwrap

if TYPE_CHECKING:
    from ml_connector.sim.visma.app import Simulator
    from ml_connector.sim.visma.http import SimHandler


def dimensions(sim: Simulator, request: SimRequest) -> SimResponse:
    return json_response(200, [sim.state.dimension_id])


def _dimension(sim: Simulator, request: SimRequest) -> None:
    dimension = request.path_params["dimensionId"]
    if dimension != sim.state.dimension_id:
        raise not_found(f"Dimension {dimension} not found.")


def _segment_of(sim: Simulator, request: SimRequest) -> Any:
    _dimension(sim, request)
    raw = request.path_params["segmentId"]
    segment = sim.state.segments.get(int(raw)) if raw.isdigit() else None
    if segment is None:
        raise not_found(f"Segment {raw} of {sim.state.dimension_id} not found.")
    return segment


def dimension(sim: Simulator, request: SimRequest) -> SimResponse:
    _dimension(sim, request)
    expand = request.q_bool("expandSegmentsValues")
    greater = request.q_str("greaterThanValue")
    modified = modified_filter(
        request.q_str("lastModifiedDateTime"), request.q_str("lastModifiedDateTimeCondition")
    )
    segments = []
    for segment in (sim.state.segments[k] for k in sorted(sim.state.segments)):
        values = [
            v
            for v in segment.values.values()
            if (greater is None or v.value_id > greater) and modified(v.last_modified)
        ]
        dto = segment.dto(values)
        if expand is False:
            dto.pop("segmentValues")
        segments.append(dto)
    length = sum(s.length for s in sim.state.segments.values())
    return json_response(
        200,
        {
            "id": sim.state.dimension_id,
            "length": length,
            "description": sim.state.dimension_description,
            "segments": segments,
        },
    )


def segment(sim: Simulator, request: SimRequest) -> SimResponse:
    segment = _segment_of(sim, request)
    return json_response(200, segment.dto(), {"etag": etag_of(segment.version)})


def segment_put(sim: Simulator, request: SimRequest) -> SimResponse:
    segment = _segment_of(sim, request)
    if not if_match_ok(request.headers.get("if-match"), segment.version):
        raise SimHTTPError(412, None)
    body = request.json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a DtoSegmentUpdateDto object.")
    description = unwrap(body, "description")
    if isinstance(description, str):
        segment.description = description
    for item in body.get("segmentValues") or []:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise bad_request("Each segment value needs a string 'value'.")
        operation = item.get("operation", "Insert")
        value_id = item["value"]
        existing = segment.values.get(value_id)
        if operation == "Delete":
            if existing is None:
                raise bad_request(f"Segment value '{value_id}' does not exist.")
            del segment.values[value_id]
            continue
        if operation == "Insert" and existing is not None:
            raise bad_request(f"Segment value '{value_id}' already exists.")
        if operation == "Update" and existing is None:
            raise bad_request(f"Segment value '{value_id}' does not exist.")
        desc = unwrap(item, "description")
        active = unwrap(item, "active")
        sim.state.add_segment_value(
            segment.segment_id,
            value_id,
            desc if isinstance(desc, str) else (existing.description if existing else value_id),
            active if isinstance(active, bool) else (existing.active if existing else True),
        )
    segment.version = sim.state.next_version()
    segment.last_modified = sim.state.clock.now()
    sim.notify_webhook(
        "segment",
        "Segment.Changed",
        {"dimensionId": request.path_params["dimensionId"], "segmentId": segment.segment_id},
    )
    return SimResponse(204, None, {"etag": etag_of(segment.version)})


def segment_value(sim: Simulator, request: SimRequest) -> SimResponse:
    segment = _segment_of(sim, request)
    raw = request.path_params["valueId"]
    try:
        value_id = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode("utf-8")
    except ValueError:
        raise bad_request("valueId must be Base64-encoded.") from None
    value = segment.values.get(value_id)
    if value is None:
        raise not_found(f"Segment value '{value_id}' not found.")
    return json_response(200, value.dto(), {"etag": etag_of(value.version)})


def segment_value_public(sim: Simulator, request: SimRequest) -> SimResponse:
    segment = _segment_of(sim, request)
    public_id = request.path_params["publicId"]
    for value in segment.values.values():
        if value.public_id == public_id:
            return json_response(200, value.dto(), {"etag": etag_of(value.version)})
    raise not_found(f"Segment value with publicId {public_id} not found.")


ROUTES: list[tuple[str, str, SimHandler]] = [
    ("GET", "/v1/dimension", dimensions),
    ("GET", "/v1/dimension/{dimensionId}", dimension),
    ("GET", "/v1/dimension/{dimensionId}/{segmentId}", segment),
    ("PUT", "/v1/dimension/{dimensionId}/{segmentId}", segment_put),
    ("GET", "/v1/dimension/{dimensionId}/{segmentId}/publicid/{publicId}", segment_value_public),
    ("GET", "/v1/dimension/{dimensionId}/{segmentId}/{valueId}", segment_value),
]
