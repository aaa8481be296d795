"""The vault: round trips, tampering, wrong master key, key-file permissions, rotation, both backends."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from ml_connector.config.model import VaultConfig
from ml_connector.config.secrets import SecretRef, default_resolver
from ml_connector.config.vault_access import VaultResolver, open_vault
from ml_connector.errors import SecretError
from ml_connector.vault import (
    EnvKeySource,
    FileBackend,
    FileKeySource,
    LedgerBackend,
    Vault,
    VaultBackend,
    encode_key,
    generate_key,
    key_id,
)
from tests.security.helpers import cli, cli_env, find_leaks

VALUE = "Tr0ub4dor&3-very-secret"
OTHER = "correct-horse-battery-staple"


def _key_file(path: Path, *keys: bytes) -> Path:
    path.write_text("".join(encode_key(k) + "\n" for k in keys))
    path.chmod(0o600)
    return path


@pytest.fixture(params=["file", "ledger"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> VaultBackend:
    if request.param == "file":
        return FileBackend(tmp_path / "secrets.vault")
    return LedgerBackend(f"sqlite:///{tmp_path / 'ledger.db'}")


def _no_value(message: str) -> None:
    assert not find_leaks(message.encode(), {"v": VALUE, "o": OTHER})
    assert "Traceback" not in message


def test_round_trip_list_and_resolver(backend: VaultBackend, tmp_path: Path) -> None:
    vault = Vault(backend, FileKeySource(_key_file(tmp_path / "k", generate_key())))
    vault.set("acme_visma", VALUE)
    vault.set("acme_sftp", OTHER)
    assert vault.get("acme_visma") == VALUE
    assert [i.name for i in vault.list()] == ["acme_sftp", "acme_visma"]
    resolver = default_resolver({}, vault=VaultResolver(vault))
    assert SecretRef.parse("vault:acme_sftp").resolve(resolver) == OTHER
    with pytest.raises(SecretError, match="'nope' does not exist"):
        SecretRef.parse("vault:nope").resolve(resolver)
    assert vault.delete("acme_sftp") and not vault.delete("acme_sftp")


def test_nothing_readable_at_rest(backend: VaultBackend, tmp_path: Path) -> None:
    key = generate_key()
    vault = Vault(backend, FileKeySource(_key_file(tmp_path / "k", key)))
    vault.set("a", VALUE)
    for path in tmp_path.iterdir():
        if path.name != "k":
            assert not find_leaks(path.read_bytes(), {"v": VALUE, "key": encode_key(key)}), path


def _tamper_file(path: Path, name: str, field: str, change: object) -> None:
    data = json.loads(path.read_text())
    entry = data["secrets"][name]
    entry[field] = change(entry[field]) if callable(change) else change
    path.write_text(json.dumps(data))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("field", "change", "expected"),
    [
        ("ciphertext", _flip, "failed authentication"),
        ("nonce", _flip, "failed authentication"),
        ("ciphertext", lambda c: c[:-8], "failed authentication"),
        ("ciphertext", "%%%not-base64", "damaged"),
        ("key_id", "0000000000000000", "wrong master key, or the entry was altered"),
    ],
)
def test_tampered_entry_names_the_secret(tmp_path: Path, field: str, change: object, expected: str) -> None:
    vault = Vault(FileBackend(tmp_path / "v"), FileKeySource(_key_file(tmp_path / "k", generate_key())))
    vault.set("acme_visma", VALUE)
    vault.set("acme_sftp", OTHER)
    _tamper_file(tmp_path / "v", "acme_visma", field, change)
    with pytest.raises(SecretError) as err:
        vault.get("acme_visma")
    assert "'acme_visma'" in err.value.message and expected in err.value.message
    _no_value(err.value.message)
    assert vault.get("acme_sftp") == OTHER  # one bad entry spoils nothing else
    assert vault.verify() == {"acme_sftp": None, "acme_visma": err.value.message}


def test_entry_moved_to_another_name_fails(tmp_path: Path) -> None:
    vault = Vault(FileBackend(tmp_path / "v"), FileKeySource(_key_file(tmp_path / "k", generate_key())))
    vault.set("acme_visma", VALUE)
    vault.set("acme_sftp", OTHER)
    data = json.loads((tmp_path / "v").read_text())
    data["secrets"]["acme_sftp"] = data["secrets"]["acme_visma"]
    (tmp_path / "v").write_text(json.dumps(data))
    with pytest.raises(SecretError, match="'acme_sftp' failed authentication"):
        vault.get("acme_sftp")


def test_tampered_row_in_the_ledger(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    vault = Vault(LedgerBackend(url), FileKeySource(_key_file(tmp_path / "k", generate_key())))
    vault.set("acme_visma", VALUE)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT ciphertext FROM vault_secrets")).one()
        conn.execute(sa.text("UPDATE vault_secrets SET ciphertext = :c"), {"c": _flip(row[0])})
    engine.dispose()
    with pytest.raises(SecretError, match="'acme_visma' failed authentication"):
        vault.get("acme_visma")


def test_wrong_master_key(backend: VaultBackend, tmp_path: Path) -> None:
    right, wrong = generate_key(), generate_key()
    Vault(backend, EnvKeySource("MK", {"MK": encode_key(right)})).set("acme_visma", VALUE)
    with pytest.raises(SecretError) as err:
        Vault(backend, EnvKeySource("MK", {"MK": encode_key(wrong)})).get("acme_visma")
    msg = err.value.message
    assert "'acme_visma'" in msg and "wrong master key" in msg and key_id(right) in msg
    _no_value(msg)
    assert encode_key(wrong) not in msg


@pytest.mark.parametrize("text", ["", "not-base64!!", base64.b64encode(b"short").decode()])
def test_malformed_master_key_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(SecretError) as err:
        EnvKeySource("MK", {"MK": text}).load()
    assert "MK" in err.value.message
    if text:
        assert text not in err.value.message


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _key_file(tmp_path / "master.key", generate_key())
    path.chmod(mode)
    vault = Vault(FileBackend(tmp_path / "v"), FileKeySource(path))
    with pytest.raises(SecretError, match=rf"accessible to other users \(mode 0{mode:o}\).*chmod 600"):
        vault.set("a", VALUE)
    assert not (tmp_path / "v").exists()


def test_rotate_with_a_key_file_keeps_every_reader_working(backend: VaultBackend, tmp_path: Path) -> None:
    old = generate_key()
    keys = FileKeySource(_key_file(tmp_path / "master.key", old))
    vault = Vault(backend, keys)
    vault.set("a", VALUE)
    vault.set("b", OTHER)
    reader_before = Vault(backend, FileKeySource(tmp_path / "master.key"))  # a running service
    result = vault.rotate()
    assert result.rotated == 2 and result.key_file_updated and result.previous_ids == (key_id(old),)
    assert {i.key_id for i in vault.list()} == {result.key_id} != {key_id(old)}
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert reader_before.get("a") == VALUE and reader_before.get("b") == OTHER
    # a process still holding only the old key (e.g. an old copy of the file) is told clearly
    stale = Vault(backend, EnvKeySource("MK", {"MK": encode_key(old)}))
    with pytest.raises(SecretError, match=r"'a' cannot be decrypted.*wrong master key"):
        stale.get("a")
    assert vault.prune_keys() == (key_id(old),)
    assert len((tmp_path / "master.key").read_text().split()) == 1
    assert vault.get("b") == OTHER


def test_rotate_with_env_keys_new_first(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    backend = FileBackend(tmp_path / "v")
    Vault(backend, EnvKeySource("MK", {"MK": encode_key(old)})).set("a", VALUE)
    both = Vault(backend, EnvKeySource("MK", {"MK": f"{encode_key(new)},{encode_key(old)}"}))
    assert both.get("a") == VALUE  # before the rotation: the old key still decrypts
    assert both.rotate().key_id == key_id(new)
    assert Vault(backend, EnvKeySource("MK", {"MK": encode_key(new)})).get("a") == VALUE
    with pytest.raises(SecretError, match="put the new key first"):
        both.rotate(generate_key())


def test_rotate_refuses_and_changes_nothing_when_an_entry_is_bad(tmp_path: Path) -> None:
    keys = FileKeySource(_key_file(tmp_path / "master.key", generate_key()))
    vault = Vault(FileBackend(tmp_path / "v"), keys)
    vault.set("good", OTHER)
    vault.set("bad", VALUE)
    _tamper_file(tmp_path / "v", "bad", "ciphertext", _flip)
    before = ((tmp_path / "v").read_bytes(), (tmp_path / "master.key").read_bytes())
    with pytest.raises(SecretError, match=r"(?s)rotation refused, nothing was changed.*'bad'"):
        vault.rotate()
    assert ((tmp_path / "v").read_bytes(), (tmp_path / "master.key").read_bytes()) == before


def test_open_vault_from_config(tmp_path: Path) -> None:
    key = generate_key()
    cfg = VaultConfig(backend="file", path=tmp_path / "v", master_key_env="MK")
    vault = open_vault(cfg, {"MK": encode_key(key)})
    vault.set("x", VALUE)
    ledger = VaultConfig(
        backend="ledger",
        master_key_file=_key_file(tmp_path / "k", key),
        master_key_env=None,
        ledger_url=f"sqlite:///{tmp_path / 'l.db'}",
    )
    open_vault(ledger).set("y", OTHER)
    assert open_vault(ledger).get("y") == OTHER


# ---- the CLI, as an operator uses it ---------------------------------------------------------------


def test_cli_set_from_stdin_list_verify_and_clean_errors(tmp_path: Path) -> None:
    config = tmp_path / "ml-connector.toml"
    config.write_text('[vault]\npath = "s.vault"\nmaster_key_file = "master.key"\n')
    env = cli_env()
    assert cli("secrets", "new-key", "master.key", env=env, cwd=tmp_path).returncode == 0
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    done = cli("secrets", "set", "acme_visma", env=env, input=VALUE + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "vault:acme_visma" in done.stdout
    _no_value(done.stdout + done.stderr)

    _tamper_file(tmp_path / "s.vault", "acme_visma", "ciphertext", _flip)
    bad = cli("secrets", "verify", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert "'acme_visma' failed authentication" in bad.stdout
    _no_value(bad.stdout + bad.stderr)

    os.chmod(tmp_path / "master.key", 0o644)
    refused = cli("secrets", "set", "other", env=env, input=OTHER, cwd=tmp_path)
    assert refused.returncode == 2 and "accessible to other users" in refused.stderr
    _no_value(refused.stdout + refused.stderr)
