"""The [vault] table: vault: references resolve from the encrypted vault; every problem is reported
with the others, with key and line, and never with a value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml_connector.config import config_resolver, load_config, load_vault_config
from ml_connector.config.secrets import SecretRef
from ml_connector.errors import ConfigError
from ml_connector.vault import EnvKeySource, FileBackend, Vault, encode_key, generate_key
from tests.config.samples import BASE, ENV

KEY = encode_key(generate_key())
VAULT_BASE = BASE.replace('"env:ACME_SFTP_PASSWORD"', '"vault:acme_sftp"').replace(
    '"env:ACME_VISMA_SECRET"', '"vault:acme/visma"'
)


def _problems(path: Path, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=environ)
    assert "Traceback" not in str(err.value)
    return err.value.problems


def _fill(tmp_path: Path) -> None:
    vault = Vault(FileBackend(tmp_path / "secrets.vault"), EnvKeySource("MK", {"MK": KEY}))
    vault.set("acme_sftp", "sftp-pw-from-vault")
    vault.set("acme/visma", "visma-secret-from-vault")


def test_vault_references_resolve(write: Callable[[str], Path], tmp_path: Path) -> None:
    _fill(tmp_path)
    path = write('[vault]\npath = "secrets.vault"\nmaster_key_env = "MK"\n\n' + VAULT_BASE)
    config = load_config(path, environ={"MK": KEY})
    assert config.vault is not None and config.vault.path == tmp_path / "secrets.vault"
    assert config.vault.backend == "file" and config.vault.master_key_env == "MK"
    resolver = config_resolver(config, {"MK": KEY})
    acme = config.connections[0]
    assert acme.visma.client_secret == SecretRef("vault", "acme/visma")
    assert acme.visma.client_secret.resolve(resolver) == "visma-secret-from-vault"
    assert "visma-secret-from-vault" not in repr(config)
    assert load_vault_config(path, environ={}).path == tmp_path / "secrets.vault"


def test_env_references_keep_working_next_to_a_vault(write: Callable[[str], Path], tmp_path: Path) -> None:
    _fill(tmp_path)
    mixed = VAULT_BASE.replace('"vault:acme_sftp"', '"env:ACME_SFTP_PASSWORD"')
    config = load_config(
        write('[vault]\npath = "secrets.vault"\nmaster_key_env = "MK"\n' + mixed), environ={**ENV, "MK": KEY}
    )
    assert config.connections[0].sftp.password == SecretRef("env", "ACME_SFTP_PASSWORD")


def test_missing_and_tampered_secrets_are_reported_at_their_keys(
    write: Callable[[str], Path], tmp_path: Path
) -> None:
    vault = Vault(FileBackend(tmp_path / "secrets.vault"), EnvKeySource("MK", {"MK": KEY}))
    vault.set("acme/visma", "visma-secret-from-vault")
    wrong = encode_key(generate_key())
    path = write('[vault]\npath = "secrets.vault"\nmaster_key_env = "MK"\n\n' + VAULT_BASE)
    problems = _problems(path, {"MK": wrong})
    assert len(problems) == 2
    assert problems[0].startswith("connections.acme.sftp.password (ml-connector.toml line 11): ")
    assert "vault secret 'acme_sftp' does not exist" in problems[0]
    assert problems[1].startswith("connections.acme.visma.client_secret (ml-connector.toml line 16): ")
    assert "'acme/visma' cannot be decrypted" in problems[1] and "wrong master key" in problems[1]
    assert all("visma-secret-from-vault" not in p and wrong not in p for p in problems)


def test_world_readable_key_file_is_a_problem(write: Callable[[str], Path], tmp_path: Path) -> None:
    key = tmp_path / "master.key"
    key.write_text(KEY + "\n")
    key.chmod(0o644)
    path = write('[vault]\npath = "secrets.vault"\nmaster_key_file = "master.key"\n\n' + VAULT_BASE)
    problems = _problems(path, {})
    assert problems[0].startswith("vault.master_key_file (ml-connector.toml line 3): master key file ")
    assert "accessible to other users (mode 0644)" in problems[0]
    # the references say why they cannot be read, without repeating the whole story as a crash
    assert all("the vault is not usable" in p for p in problems[1:]) and len(problems) == 3
    assert all(KEY not in p for p in problems)


def test_vault_table_problems_all_at_once(write: Callable[[str], Path]) -> None:
    path = write(
        '[vault]\nbackend = "cloud"\nmaster_key_env = "MK"\nmaster_key_file = "k"\npth = "x"\n\n' + BASE
    )
    problems = "\n".join(_problems(path, ENV))
    assert "vault.backend (ml-connector.toml line 2): 'cloud' is not one of 'file', 'ledger'" in problems
    assert (
        "vault.master_key_file (ml-connector.toml line 4): set master_key_env or master_key_file" in problems
    )
    assert "vault.pth (ml-connector.toml line 5): unknown key; did you mean 'path'?" in problems


def test_ledger_backend_refuses_a_path(write: Callable[[str], Path]) -> None:
    path = write('[vault]\nbackend = "ledger"\npath = "x.vault"\n\n' + BASE)
    problems = _problems(path, {**ENV, "ML_CONNECTOR_MASTER_KEY": KEY})
    assert problems == [
        "vault.path (ml-connector.toml line 3): the vault lives in the ledger database"
        ' with backend = "ledger"; remove path'
    ]


def test_vault_reference_without_a_vault_table(write: Callable[[str], Path]) -> None:
    problems = _problems(write(VAULT_BASE), ENV)
    assert all("no resolver for vault: references" in p for p in problems) and len(problems) == 2


def test_default_master_key_env_not_set(write: Callable[[str], Path]) -> None:
    problems = _problems(write("[vault]\n\n" + BASE), ENV)
    assert problems == [
        "vault.master_key_env (ml-connector.toml line 1): master key: environment variable"
        " ML_CONNECTOR_MASTER_KEY is not set (or set vault.master_key_file to a key file)"
    ]
