"""Settings of one SFTP connection to Stampli's server.

Secrets (password, private key, passphrase) are excluded from ``repr`` and never logged. The
server's host key must be pinned: there is no setting that skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_connector.errors import ConfigError

DEFAULT_IGNORE_SUFFIXES: tuple[str, ...] = (".tmp", ".part", ".filepart", ".partial")


@dataclass(frozen=True, kw_only=True)
class SftpSettings:
    """One SFTP account.

    ``host_key`` pins the server's key in one of three forms:

    * a known_hosts line: ``[sftp.example.com]:2222 ssh-ed25519 AAAA…`` (the host pattern must
      match ``host``/``port``; hashed ``|1|…`` patterns work too),
    * a public key: ``ssh-ed25519 AAAA… [comment]``,
    * a SHA-256 fingerprint: ``SHA256:…`` (as printed by ``ssh-keygen -lf`` and
      ``ml-connector sftp fingerprint``).

    All fields are keyword-only. Several pins may be given on separate lines (e.g. during a key
    rotation); any one must match.
    """

    host: str
    port: int = 22
    username: str
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    host_key: str
    connect_timeout: float = 30.0
    op_timeout: float = 60.0
    min_file_age: float = 120.0
    stability_wait: float = 2.0
    ignore_suffixes: tuple[str, ...] = DEFAULT_IGNORE_SUFFIXES
    archive_folder: str | None = None
    config_key: str = "sftp"  # where host and port are configured, named in connection errors

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not self.host.strip():
            problems.append("sftp host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"sftp port {self.port} is out of range")
        if not self.username.strip():
            problems.append("sftp username is empty")
        if not self.host_key.strip():
            problems.append(
                "sftp host_key is empty: pin the server's key "
                "(run `ml-connector sftp fingerprint HOST[:PORT]`)"
            )
        if not self.password and not self.private_key:
            problems.append("sftp needs a password or a private key")
        if self.private_key_passphrase and not self.private_key:
            problems.append("sftp private_key_passphrase is set without a private_key")
        for name in ("connect_timeout", "op_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"sftp {name} must be > 0")
        for name in ("min_file_age", "stability_wait"):
            if getattr(self, name) < 0:
                problems.append(f"sftp {name} must be >= 0")
        if self.archive_folder is not None and not self.archive_folder.strip():
            problems.append("sftp archive_folder is empty (leave it unset to keep files in place)")
        if problems:
            raise ConfigError("invalid SFTP settings", problems=problems)

    @property
    def endpoint(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"
