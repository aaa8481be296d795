"""Host-key pinning: check a server's key against a pin, fetch a server's key.

The pin's text is parsed by ``ml_connector.hostkey`` (the one parser, also used by config validation);
this module turns it into asyncssh objects. There is deliberately no way to accept any key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh

from ml_connector.errors import ConfigError, FatalSourceError, TransientSourceError
from ml_connector.hostkey import HostKeyFormatError, parse_pin


@dataclass(frozen=True)
class HostKeyInfo:
    """A server's host key as an operator pins it."""

    known_hosts_line: str
    fingerprint_sha256: str
    key_type: str


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``SHA256:<base64, no padding>``, the form ``ssh-keygen -lf`` prints."""
    return str(key.get_fingerprint("sha256"))


def known_hosts_host(host: str, port: int) -> str:
    """The host field of a known_hosts line: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyPin:
    """A ``host_key`` setting, parsed by ``ml_connector.hostkey`` (the forms are listed there), ready to
    check the key a server presents."""

    def __init__(self, text: str) -> None:
        try:
            pins = parse_pin(text)
        except HostKeyFormatError as exc:
            if exc.line is None:
                raise ConfigError("sftp host_key is empty: the server's key must be pinned") from None
            raise _unreadable(exc.line, exc) from None
        self._known_hosts: asyncssh.SSHKnownHosts | None = None
        self._keys: list[asyncssh.SSHKey] = []
        self._fingerprints: set[str] = set()
        self._described: list[str] = []
        kh_lines: list[str] = []
        for pin in pins:
            if pin.known_hosts_line is not None:
                kh_lines.append(pin.known_hosts_line)
                marker = "revoked " if pin.marker == "@revoked" else ""
                self._described.append(marker + pin.key.fingerprint)
            elif pin.key.public_key is not None:
                try:
                    self._keys.append(asyncssh.import_public_key(pin.key.public_key))
                except (ValueError, asyncssh.KeyImportError) as exc:
                    raise _unreadable(pin.key.public_key, exc) from None
                self._described.append(pin.key.fingerprint)
            else:
                self._fingerprints.add(pin.key.fingerprint)
                self._described.append(pin.key.fingerprint)
        if kh_lines:
            try:
                self._known_hosts = asyncssh.import_known_hosts("\n".join(kh_lines) + "\n")
            except ValueError as exc:
                raise ConfigError(f"sftp host_key known_hosts entry is invalid: {exc}") from None

    @property
    def expected(self) -> str:
        """The pinned fingerprints, for messages."""
        return ", ".join(self._described)

    def host_key_algs(self) -> list[str] | None:
        """Restrict negotiation to the pinned key types when every pin is a bare key."""
        if self._fingerprints or self._known_hosts is not None:
            return None
        algs: list[str] = []
        for key in self._keys:
            for alg in key.sig_algorithms:
                name = alg.decode()
                if name not in algs:
                    algs.append(name)
        return algs

    def accepts(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        if self._known_hosts is not None:
            trusted, _ca, revoked, *_ = asyncssh.match_known_hosts(
                self._known_hosts, host, addr, None if port == 22 else port
            )
            if key in revoked:
                return False
            if key in trusted:
                return True
        if key in self._keys:
            return True
        return fingerprint(key) in self._fingerprints


def _unreadable(line: str, exc: Exception) -> ConfigError:
    return ConfigError(
        "sftp host_key is not a known_hosts line, a public key or a SHA256: fingerprint",
        problems=[f"{line[:60]}…: {exc}" if len(line) > 60 else f"{line}: {exc}"],
    )


def parse_endpoint(text: str, default_port: int = 22) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6addr]:port`` or ``[host]:port`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ConfigError(f"no host in {text!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(f"bad port in {text!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range")
    return host, port


async def fetch_host_key(host: str, port: int = 22, timeout: float = 10.0) -> HostKeyInfo:
    """Connect, complete the key exchange and return the server's host key (no login)."""
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, config=None), timeout=timeout)
    except TimeoutError:
        raise TransientSourceError(f"{host}:{port}: no SSH handshake within {timeout:g}s") from None
    except (OSError, asyncssh.Error) as exc:
        raise TransientSourceError(f"{host}:{port}: cannot fetch host key: {exc}") from None
    if key is None:
        raise FatalSourceError(f"{host}:{port}: server presented no host key")
    public = key.export_public_key("openssh").decode().split()
    line = f"{known_hosts_host(host, port)} {public[0]} {public[1]}"
    return HostKeyInfo(known_hosts_line=line, fingerprint_sha256=fingerprint(key), key_type=public[0])
