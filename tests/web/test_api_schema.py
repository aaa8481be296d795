"""schemathesis against ``/api`` of a running dashboard, logged in as an operator (so the generated
requests reach the service functions, replays and checks included): no server error, every status
code, content type and response body as the OpenAPI document says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.web.conftest import World

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_openapi_document_lists_every_route(world: World) -> None:
    web = world.client()
    doc = web.http.get("/api/openapi.json").json()
    assert set(doc["paths"]) == {
        "/api/health",
        "/api/me",
        "/api/overview",
        "/api/documents",
        "/api/documents/{doc_id}",
        "/api/failures",
        "/api/failures/replay",
        "/api/reconciliation",
        "/api/reconciliation.csv",
        "/api/connections",
        "/api/connections/{name}/check",
    }
    web.close()


def test_schemathesis_finds_no_server_error(world: World, tmp_path: Path) -> None:
    web = world.login("operator")
    token = web.csrf()
    proc = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{world.base_url}/api/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "20",
            "--seed",
            os.environ.get("MLC_SCHEMATHESIS_SEED", "7"),
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Cookie: mlc_session={web.session_cookie}",
            "--header",
            f"X-CSRF-Token: {token}",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "11 operations" in out or "11 selected" in out or "11/11" in out, out[-3000:]
    # It exercised the session: the operator is still logged in and the ledger still answers.
    assert web.http.get("/api/me").status_code == 200
    web.close()
