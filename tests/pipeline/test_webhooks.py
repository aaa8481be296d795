"""Visma's webhooks end to end: the real ``serve`` loop (cycles + webhook receiver over real HTTP),
the simulator sending signed notices over real HTTP, real sshd, SQLite and PostgreSQL ledgers.

Each test parks one invoice coded to a cost center Visma lacks (the demo's department 450), then
creates the cost center in the simulator and watches what the notification (or its absence) does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization

from ml_connector import service
from ml_connector.demo.generate import MISSING_DEPARTMENT
from ml_connector.domain.stored import StoredDocument
from ml_connector.ledger.store import DocStatus
from ml_connector.web.server import serve_with_dashboard, uvicorn_config
from ml_connector.webhooks.signature import sign
from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset
from tests.support.postgres import free_port
from tests.visma.test_client_tls import _cert as tls_cert

KEY_ENV = "MLC_TEST_WEBHOOK_KEY"
KEY = "whk-test-3f9a1c0b7e"  # the subscription's signing key, as the Developer Portal would give it
HEADER = "X-Visma-Signature"
COST_CENTER = MISSING_DEPARTMENT.rjust(4, "0")
SEGMENT_VALUE_GETS = "GET /v1/dimension/{dimensionId}/{segmentId}/{valueId}"


@dataclass
class Served:
    conn: Connection
    app: service.App
    url: str  # where the webhook receiver listens
    invoice_key: str
    data: Dataset
    verify: bool | str  # the test CA's file when the receiver speaks HTTPS

    def assert_all_posted_once(self) -> None:
        self.conn.assert_exactly_once(self.data.expected(self.data.invoice_ids, payments=False))

    def status(self) -> str:
        every = [DocStatus.PARKED, DocStatus.POSTED, DocStatus.SKIPPED, *DocStatus.OPEN]
        rows = self.app.ledger.documents_with_status(self.conn.name, every)
        return str(next(r.status for r in rows if r.doc_key == self.invoice_key))

    def webhook_runs(self) -> list[dict[str, Any]]:
        runs = self.app.ledger.last_runs(self.conn.name, limit=100)
        return [dict(r) for r in runs if (r["stats"] or {}).get("trigger") == "webhook"]

    def segment_value_reads(self) -> int:
        return int(self.conn.sim.stats()["requests"].get(SEGMENT_VALUE_GETS, 0))

    def configure_sim(self, **settings: Any) -> dict[str, Any]:
        body = {"url": self.url, "key": KEY, "header": HEADER, "verify": self.verify, **settings}
        response = self.conn.sim.http.post("/_sim/webhooks", json=body)
        response.raise_for_status()
        return dict(response.json())

    def sim_webhooks(self) -> dict[str, Any]:
        return dict(self.conn.sim.http.get("/_sim/webhooks").json())


def notice(conn: Connection, *, tenant: str | None = None, **overrides: Any) -> bytes:
    body = {
        "id": uuid.uuid4().hex,
        "event": "SegmentValue.Created",
        "tenantId": tenant or conn.sim.tenant_id,
        "companyId": conn.sim.company_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "entity": "segmentValue",
        "keys": {"dimensionId": "SUBACCOUNT", "segmentId": 1, "valueId": COST_CENTER},
        **overrides,
    }
    return json.dumps(body).encode("utf-8")


async def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` held (polled every 50 ms); fails after ``timeout``."""
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def write_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a certificate for 127.0.0.1 signed by it: (ca, cert, key) PEM files."""
    ca_key, ca_cert = tls_cert("webhook test CA", None, None, ca=True)
    key, cert = tls_cert("127.0.0.1", ca_key, ca_cert.subject, ca=False)
    paths = folder / "ca.pem", folder / "hooks.pem", folder / "hooks.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def configure(
    conn: Connection, *, poll_interval: int, port: int | None, tls: tuple[Path, Path] | None = None
) -> None:
    """The fixture's configuration plus the poll interval and a [webhooks] table."""
    conn.write_config()
    text = conn.config_path.read_text(encoding="utf-8")
    head = f"[connections.{conn.name}]\n"
    fast = "allow_fast_poll = true\n" if poll_interval < 300 else ""
    text = text.replace(head, f"{head}poll_interval = {poll_interval}\n{fast}", 1)
    text += f"\n[connections.{conn.name}.vendors]\nenabled = false\n"
    text += f'\n[webhooks]\nenabled = true\nsecret = "env:{KEY_ENV}"\nsignature_header = "{HEADER}"\n'
    if port is not None:
        text += f"port = {port}\n"
    if tls is not None:
        text += f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'
    conn.config_path.write_text(text, encoding="utf-8")
    conn.environ[KEY_ENV] = KEY


@asynccontextmanager
async def serving(
    connection_factory: ConnectionFactory,
    *,
    poll_interval: int = 3600,
    on_dashboard: bool = False,
    https: bool = False,
) -> AsyncIterator[Served]:
    """``serve`` running with one invoice parked on the missing cost center; ``https``: the
    receiver on its own port with a certificate from a test CA, which the simulator trusts."""
    conn = connection_factory()
    port = free_port()
    ca, cert, key = write_tls(conn.workdir) if https else (None, None, None)
    tls = (cert, key) if cert is not None and key is not None else None
    configure(conn, poll_interval=poll_interval, port=None if on_dashboard else port, tls=tls)
    ds = Dataset.make(4, missing=1)
    parked_id = ds.missing_ids[0]
    conn.put_invoices("stampli_invoices_C100234_20250310T071500Z_0001.csv", ds.invoices_text(ds.invoice_ids))
    app = conn.open_app()
    dashboard = uvicorn_config(app, "127.0.0.1", port) if on_dashboard else None
    stop = asyncio.Event()
    task = asyncio.create_task(serve_with_dashboard(app, dashboard, stop=stop))
    scheme = "https" if https else "http"
    url = f"{scheme}://127.0.0.1:{port}/webhooks/visma"
    served = Served(conn, app, url, f"INV:{parked_id}", ds, str(ca) if ca else True)
    try:
        others = [i for i in ds.invoice_ids if i != parked_id and ds.approved(i)]
        await wait_for(
            "the first cycle parks the invoice and posts the others",
            lambda: (
                any(r.doc_key == served.invoice_key for r in _parked(served))
                and app.ledger.status_counts(conn.name).get(DocStatus.POSTED) == len(others)
            ),
            60,
        )
        await wait_for("the receiver listens", lambda: _listening(served.url, served.verify), 10)
        yield served
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _parked(served: Served) -> list[StoredDocument]:
    return list(served.app.ledger.documents_with_status(served.conn.name, [DocStatus.PARKED]))


def trust(verify: bool | str) -> bool | ssl.SSLContext:
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def _listening(url: str, verify: bool | str) -> bool:
    try:
        httpx2.post(url, content=b"", timeout=2, verify=trust(verify))
    except httpx2.HTTPError:
        return False
    return True


async def post_notice(served: Served, body: bytes, signature: str | None) -> int:
    """Off the event loop: the receiver answers from this same loop."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[HEADER] = signature
    response = await asyncio.to_thread(
        httpx2.post, served.url, content=body, headers=headers, timeout=10, verify=trust(served.verify)
    )
    return response.status_code


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------------------------------


def test_parked_invoice_posts_within_5_s_of_its_cost_center_with_an_hourly_poll(
    connection_factory: ConnectionFactory, fast_retries: None
) -> None:
    async def scenario() -> None:
        async with serving(connection_factory, poll_interval=3600) as s:
            s.configure_sim(duplicates=1)  # each notice twice: the copy must be harmless
            runs_before = len(s.app.ledger.last_runs(s.conn.name, limit=100))
            s.conn.sim.add_segment_value(1, COST_CENTER, "Prosjektkontor")
            seconds = await wait_for("posted after the notice", lambda: s.status() == DocStatus.POSTED, 5)
            print(f"webhook-triggered posting took {seconds:.2f} s")
            await wait_for("both copies delivered", lambda: s.sim_webhooks()["sent"] == 2, 5)
            assert s.sim_webhooks()["answers"] == {"202": 1, "200": 1}  # accepted, then duplicate
            webhook_runs = s.webhook_runs()
            assert len(webhook_runs) == 1, webhook_runs  # the duplicate triggered nothing
            assert webhook_runs[0]["stats"]["posted"] == 1
            assert len(s.app.ledger.last_runs(s.conn.name, limit=100)) == runs_before + 1, "no poll ran"
        s.assert_all_posted_once()

    run(scenario())


def test_lost_notice_posts_at_the_next_poll(
    connection_factory: ConnectionFactory, fast_retries: None
) -> None:
    async def scenario() -> None:
        async with serving(connection_factory, poll_interval=8) as s:
            s.configure_sim(lose_next=1)  # Visma does not retry a delivery that failed
            s.conn.sim.add_segment_value(1, COST_CENTER, "Prosjektkontor")
            created = time.monotonic()
            await wait_for("posted by the next poll", lambda: s.status() == DocStatus.POSTED, 30)
            assert time.monotonic() - created <= 8 + 10
            assert s.sim_webhooks()["lost"] == 1 and s.sim_webhooks()["sent"] == 0
            assert s.webhook_runs() == []  # the poll did it, not a notification

    run(scenario())


def test_bad_signature_changes_nothing_and_is_logged(
    connection_factory: ConnectionFactory, fast_retries: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with serving(connection_factory, on_dashboard=True) as s:
            s.conn.sim.add_segment_value(1, COST_CENTER, "Prosjektkontor")  # no webhook configured
            reads = s.segment_value_reads()
            body = notice(s.conn)
            caplog.set_level(logging.WARNING, logger="ml_connector.webhooks")
            caplog.clear()
            forged = sign("not-the-key", body)
            answers = [
                await post_notice(s, body, forged),
                await post_notice(s, body, None),  # missing
                await post_notice(s, body + b" ", sign(KEY, body)),  # body changed after signing
            ]
            assert answers == [401, 401, 401]
            assert await post_notice(s, b" " * (65 * 1024), forged) == 413  # never read whole
            await asyncio.sleep(1.0)  # what a notice would have triggered is done well within this
            assert s.status() == DocStatus.PARKED
            assert s.webhook_runs() == [] and s.segment_value_reads() == reads
            refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
            assert len(refused) == 4 and "signature does not match" in refused[0]
            assert "body over 65536 bytes" in refused[3]
            assert "signature missing" in refused[1]
            assert all(KEY not in m and forged not in m for m in refused)

    run(scenario())


def test_unknown_tenant_changes_nothing_and_is_logged(
    connection_factory: ConnectionFactory, fast_retries: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with serving(connection_factory) as s:
            s.conn.sim.add_segment_value(1, COST_CENTER, "Prosjektkontor")
            reads = s.segment_value_reads()
            caplog.set_level(logging.WARNING, logger="ml_connector.webhooks")
            caplog.clear()
            other_tenant = notice(s.conn, tenant="00000000-0000-0000-0000-00000000beef")
            other_company = notice(s.conn, companyId="9999999")
            assert await post_notice(s, other_tenant, sign(KEY, other_tenant)) == 403
            assert await post_notice(s, other_company, sign(KEY, other_company)) == 403
            await asyncio.sleep(1.0)
            assert s.status() == DocStatus.PARKED
            assert s.webhook_runs() == [] and s.segment_value_reads() == reads
            refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
            assert len(refused) == 2 and all("unknown tenant" in m for m in refused)
            assert "00000000-0000-0000-0000-00000000beef" in refused[0]

    run(scenario())


def test_replayed_notice_changes_nothing_and_is_logged(
    connection_factory: ConnectionFactory, fast_retries: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with serving(connection_factory, https=True) as s:
            assert s.url.startswith("https://")
            s.configure_sim()
            caplog.set_level(logging.INFO, logger="ml_connector.webhooks")
            caplog.clear()
            s.conn.sim.add_segment_value(1, COST_CENTER, "Prosjektkontor")
            await wait_for("posted after the notice", lambda: s.status() == DocStatus.POSTED, 5)
            runs, reads = len(s.webhook_runs()), s.segment_value_reads()
            assert runs == 1 and reads == 1
            s.configure_sim(replay_last=True)  # the same bytes and signature again
            await wait_for("the replay delivered", lambda: s.sim_webhooks()["sent"] == 2, 5)
            assert s.sim_webhooks()["answers"] == {"202": 1, "200": 1}
            # An old notice whose timestamp is past max_age is refused even with a fresh id.
            stale = notice(s.conn, timestamp="2026-01-01T00:00:00Z")
            assert await post_notice(s, stale, sign(KEY, stale)) == 401
            await asyncio.sleep(1.0)
            assert len(s.webhook_runs()) == runs and s.segment_value_reads() == reads
            messages = [r.getMessage() for r in caplog.records]
            assert sum("already received (replay)" in m for m in messages) == 1
            assert any("refused" in m and "from our clock" in m for m in messages)
        s.assert_all_posted_once()

    run(scenario())
