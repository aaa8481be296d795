"""The ``[vault]`` table put to use: the vault it describes, and the ``vault:`` scheme of the secret
resolver. Here rather than in ``vault/``, so the vault (encryption and storage) knows nothing of the
configuration and ``config`` -> ``vault`` is the only direction between the two packages."""

from __future__ import annotations

from collections.abc import Mapping

from ml_connector.config.model import VaultConfig
from ml_connector.config.secrets import SecretRef
from ml_connector.errors import SecretError
from ml_connector.vault.backends import FileBackend, LedgerBackend, VaultBackend
from ml_connector.vault.core import Vault
from ml_connector.vault.keys import DEFAULT_MASTER_KEY_ENV, EnvKeySource, FileKeySource, KeySource


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


class VaultResolver:
    """The ``vault:`` scheme of a ``SchemeResolver``: ``vault:NAME`` -> the vault's secret NAME."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def resolve(self, ref: SecretRef) -> str:
        if ref.scheme != "vault":
            raise SecretError(f"{ref}: the vault resolver only reads vault: references")
        return self.vault.get(ref.name)

    def __repr__(self) -> str:
        return f"VaultResolver({self.vault!r})"


class BrokenVaultResolver:
    """Stands in when the vault cannot be opened, so each ``vault:`` reference reports why once."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def resolve(self, ref: SecretRef) -> str:
        raise SecretError(f"{ref}: the vault is not usable: {self.reason}")
