"""Encrypted secrets at rest: an AES-256-GCM vault in a file or in the ledger database.

    vault = open_vault(config.vault, environ)          # from the [vault] table
    vault.set("acme_visma_secret", value)
    resolver = default_resolver(environ, vault=VaultResolver(vault))   # "vault:acme_visma_secret"

See docs/security.md for the threat model and key rotation.
"""

from __future__ import annotations

from collections.abc import Mapping

from ml_connector.config.model import VaultConfig
from ml_connector.vault.backends import Entry, FileBackend, LedgerBackend, VaultBackend
from ml_connector.vault.core import (
    BrokenVaultResolver,
    RotateResult,
    SecretInfo,
    Vault,
    VaultResolver,
    decrypt,
    encrypt,
)
from ml_connector.vault.keys import (
    DEFAULT_MASTER_KEY_ENV,
    EnvKeySource,
    FileKeySource,
    KeyRing,
    KeySource,
    check_key_file,
    encode_key,
    generate_key,
    key_id,
)


def open_vault(cfg: VaultConfig, environ: Mapping[str, str] | None = None) -> Vault:
    """The vault described by a ``[vault]`` table. Opening reads nothing; errors come on use."""
    keys: KeySource
    if cfg.master_key_file is not None:
        keys = FileKeySource(cfg.master_key_file)
    else:
        keys = EnvKeySource(cfg.master_key_env or DEFAULT_MASTER_KEY_ENV, environ)
    backend: VaultBackend
    if cfg.backend == "ledger":
        backend = LedgerBackend(cfg.ledger_url)
    else:
        assert cfg.path is not None
        backend = FileBackend(cfg.path)
    return Vault(backend, keys)


__all__ = [
    "DEFAULT_MASTER_KEY_ENV",
    "BrokenVaultResolver",
    "Entry",
    "EnvKeySource",
    "FileBackend",
    "FileKeySource",
    "KeyRing",
    "KeySource",
    "LedgerBackend",
    "RotateResult",
    "SecretInfo",
    "Vault",
    "VaultBackend",
    "VaultResolver",
    "check_key_file",
    "decrypt",
    "encode_key",
    "encrypt",
    "generate_key",
    "key_id",
    "open_vault",
]
