"""TLS to Visma is always verified: a server whose certificate is signed by an unknown CA is
refused, and the same server is accepted once that CA is configured as ``ca_bundle``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ml_connector import retry
from ml_connector.adapters.visma.client import VismaClient
from ml_connector.adapters.visma.settings import VismaSettings
from ml_connector.errors import DestinationError
from ml_connector.sim.visma.app import Simulator
from ml_connector.sim.visma.server import SimulatorOptions


def _cert(
    subject: str, issuer_key: ec.EllipticCurvePrivateKey | None, issuer: x509.Name | None, *, ca: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return key, builder.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def https_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Simulator]]:
    d = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = _cert("ml-connector test CA", None, None, ca=True)
    key, cert = _cert("127.0.0.1", ca_key, ca_cert.subject, ca=False)
    (d / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    sim = Simulator(SimulatorOptions(seed="demo").config())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            sim,
            log_level="warning",
            lifespan="off",
            http="h11",
            ws="none",
            ssl_certfile=str(d / "server.pem"),
            ssl_keyfile=str(d / "server.key"),
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"https://127.0.0.1:{port}", d / "ca.pem", sim
    server.should_exit = True
    thread.join(10)
    sock.close()


def _settings(base: str, sim: Simulator, ca: Path | None) -> VismaSettings:
    cfg = sim.config
    return VismaSettings(
        client_id=cfg.client_id,
        client_secret=cfg.client_secret,
        tenant_id=sim.company.tenant_id,
        company_id=sim.company.company_id,
        api_url=base,
        token_url=f"{base}/connect/token",
        ca_bundle=str(ca) if ca else None,
        timeout=5,
    )


async def test_unknown_ca_is_refused(https_sim: tuple[str, Path, Simulator]) -> None:
    base, _ca, sim = https_sim
    retry.set_testing(0.01)
    try:
        async with VismaClient(_settings(base, sim, None)) as visma:
            with pytest.raises(DestinationError) as exc:
                await visma.accounts()
    finally:
        retry.set_testing(None)
    assert "certificate" in str(exc.value).lower() or "ssl" in str(exc.value).lower(), str(exc.value)


async def test_configured_ca_bundle_is_trusted(https_sim: tuple[str, Path, Simulator]) -> None:
    base, ca, sim = https_sim
    async with VismaClient(_settings(base, sim, ca)) as visma:
        accounts = await visma.accounts()
    assert any(a.number == "2460" for a in accounts)
