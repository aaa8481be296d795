"""``sftp fingerprint``: a server's host key, for an operator to pin (after checking it out of band)."""

from __future__ import annotations

import asyncio

from ml_connector.adapters.sftp.hostkeys import HostKeyInfo, fetch_host_key, parse_endpoint

__all__ = ["HostKeyInfo", "server_host_key"]


def server_host_key(endpoint: str, *, timeout: float) -> HostKeyInfo:
    """The host key the server at ``HOST[:PORT]`` presents (a key exchange, no login)."""
    host, port = parse_endpoint(endpoint)
    return asyncio.run(fetch_host_key(host, port, timeout=timeout))
