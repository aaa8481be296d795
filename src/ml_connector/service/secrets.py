"""``ml-connector secrets``: the vault named by the configuration's ``[vault]`` table, and master keys
read from or written to files (never printed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ml_connector.config.loader import load_vault_config
from ml_connector.config.vault_access import open_vault
from ml_connector.vault import Vault, check_key_file, encode_key, generate_key, key_id
from ml_connector.vault.keys import decode_key, write_private

__all__ = ["Vault", "configured_vault", "read_master_key", "write_new_master_key"]


def configured_vault(config_path: Path, environ: Mapping[str, str]) -> Vault:
    """The vault of the configuration's ``[vault]`` table (nothing else of the file is resolved)."""
    return open_vault(load_vault_config(config_path, environ=environ), environ)


def read_master_key(path: Path) -> bytes:
    """A master key from a key file (its permissions checked first)."""
    check_key_file(path)
    return decode_key(path.read_text(encoding="ascii").strip(), where=f"key file {path}")


def write_new_master_key(path: Path) -> str:
    """A fresh random master key written to a new file (mode 0600); its id."""
    key = generate_key()
    write_private(path, (encode_key(key) + "\n").encode("ascii"), exclusive=True)
    return key_id(key)
