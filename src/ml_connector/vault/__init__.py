"""Encrypted secrets at rest: an AES-256-GCM vault in a file or in the ledger database.

    vault = Vault(FileBackend(path), FileKeySource(key_file))
    vault.set("acme_visma_secret", value)

The ``[vault]`` table is read into a vault, and ``vault:NAME`` references resolved, by
``ml_connector.config.vault_access`` (open_vault, VaultResolver): this package does not know the
configuration.

See docs/security.md for the threat model and key rotation.
"""

from __future__ import annotations

from ml_connector.vault.backends import Entry, FileBackend, LedgerBackend, VaultBackend
from ml_connector.vault.core import (
    RotateResult,
    SecretInfo,
    Vault,
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

__all__ = [
    "DEFAULT_MASTER_KEY_ENV",
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
    "check_key_file",
    "decrypt",
    "encode_key",
    "encrypt",
    "generate_key",
    "key_id",
]
