"""A server presenting another host key than the pinned one: refused with a clear message, audited,
and the rest of the cycle goes on (posting does not depend on the SFTP side)."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import sqlalchemy as sa

from ml_connector import service
from ml_connector.ledger.schema import audit
from ml_connector.sim.sftp_server import EmbeddedSftpServer
from ml_connector.sim.visma.server import SimulatorServer


async def test_host_key_mismatch_is_refused_and_audited(tmp_path: Path) -> None:
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    pinned = f"{other_key[0]} {other_key[1]}"
    sftp = EmbeddedSftpServer(tmp_path / "stampli").start_in_thread()
    sim = SimulatorServer().start_in_thread()
    try:
        config = tmp_path / "ml-connector.toml"
        config.write_text(
            f"""
[connections.acme]
stampli_company_id = "C100234"
[connections.acme.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.username}"
password = "env:SFTP_PW"
host_key = "{pinned}"
connect_timeout = 10
[connections.acme.visma]
api_url = "{sim.api_url}"
token_url = "{sim.token_url}"
client_id = "{sim.client_id}"
client_secret = "env:VISMA_SECRET"
tenant_id = "{sim.tenant_id}"
company_id = "{sim.company_id}"
[connections.acme.mapping]
credit_account = "2460"
""",
            encoding="utf-8",
        )
        env = {"SFTP_PW": sftp.password, "VISMA_SECRET": sim.client_secret}
        app = service.open_app(config, environ=env)
        try:
            [cycle] = await service.run_once(app)
            rows = await service.check(app)
            with app.ledger.tx() as conn:
                events = list(
                    conn.execute(
                        sa.select(audit).where(audit.c.action == "sftp_host_key_mismatch")
                    ).mappings()
                )
        finally:
            app.close()
    finally:
        sim.stop()
        sftp.stop()

    assert cycle.status == "partial"  # the Visma side still ran
    [error] = cycle.errors
    assert "host key mismatch" in error and "Not connecting" in error
    assert sftp.host_key_fingerprint in error  # what the server presented, to verify out of band
    [sftp_row] = [r for r in rows if r.side == "stampli"]
    assert not sftp_row.ok and "host key mismatch" in sftp_row.detail
    assert len(events) == 2  # one from the cycle, one from check
    for e in events:
        assert e["connection"] == "acme" and e["entity"] == "connection" and e["entity_key"] == "acme"
        assert "host key mismatch" in e["reason"] and e["actor"] == "system"
        assert e["details"]["endpoint"].endswith(str(sftp.port))
    # nothing was downloaded from the impostor
    assert not any((tmp_path / "archive").rglob("*.csv"))
