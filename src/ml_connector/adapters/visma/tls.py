"""The TLS context of the Visma clients, built once per process and trust store.

Loading a trust store costs tens of milliseconds, and a client is built per cycle (and per job in
the scaled-out mode): the idle cycle paid it every time. A CA bundle replaced on disk is loaded
again (the cache key holds its modification time).
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx2


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system trust store (as httpx builds it, without the environment's overrides), or
    ``ca_bundle`` instead when one is configured."""
    if not ca_bundle:
        return _default_context()
    return _bundle_context(ca_bundle, os.stat(ca_bundle).st_mtime_ns)


@functools.cache
def _default_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context(verify=True, trust_env=False)


@functools.lru_cache(maxsize=16)
def _bundle_context(ca_bundle: str, _mtime_ns: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle)
