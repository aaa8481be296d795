from __future__ import annotations

import asyncssh
import pytest

from ml_connector.config import (
    PLACEHOLDER_HOST_KEY,
    EnvResolver,
    HostKeyFormatError,
    SchemeResolver,
    SecretRef,
    SecretRefSyntaxError,
    parse_host_key,
    resolve_secret,
)
from ml_connector.errors import SecretError


def test_secret_ref_parse_resolve_and_repr() -> None:
    ref = SecretRef.parse("env:ACME_VISMA_SECRET")
    assert ref == SecretRef("env", "ACME_VISMA_SECRET") and str(ref) == "env:ACME_VISMA_SECRET"
    value = "v-Pz3-never-shown"
    assert resolve_secret(ref, {"ACME_VISMA_SECRET": value}) == value
    assert ref.resolve(EnvResolver({"ACME_VISMA_SECRET": value})) == value
    assert value not in repr(ref) + str(ref) + repr(EnvResolver({"ACME_VISMA_SECRET": value}))
    assert SecretRef.parse("vault:acme/visma") == SecretRef("vault", "acme/visma")


@pytest.mark.parametrize("text", ["hunter2", "env:", "env:1BAD", "env:has-dash", "ftp:x", "ENV:X", ""])
def test_secret_ref_syntax_errors_do_not_repeat_the_text(text: str) -> None:
    with pytest.raises(SecretRefSyntaxError) as info:
        SecretRef.parse(text)
    if text:
        assert text not in str(info.value) or text in ("env:",)


def test_resolver_errors_name_the_variable_not_a_value() -> None:
    with pytest.raises(SecretError, match="environment variable NOPE is not set"):
        resolve_secret(SecretRef("env", "NOPE"), {})
    with pytest.raises(SecretError, match="no resolver for vault: references"):
        resolve_secret(SecretRef("vault", "x"), {"x": "y"})
    with pytest.raises(SecretError, match="only reads env:"):
        EnvResolver({}).resolve(SecretRef("vault", "x"))
    assert SchemeResolver({"env": EnvResolver({})}).schemes == ("env",)


def test_host_key_public_key_fingerprint_matches_asyncssh() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    line = key.export_public_key().decode().strip()  # "ssh-ed25519 AAAA... comment?"
    pinned = parse_host_key(line)
    assert pinned.key_type == "ssh-ed25519" and pinned.public_key == " ".join(line.split()[:2])
    assert pinned.fingerprint == key.get_fingerprint("sha256")
    assert parse_host_key(f"[sftp.example.com]:2222 {line}") == pinned  # known_hosts line
    assert parse_host_key(pinned.fingerprint).fingerprint == pinned.fingerprint
    assert parse_host_key(pinned.fingerprint).public_key is None
    assert not pinned.is_placeholder and parse_host_key(PLACEHOLDER_HOST_KEY).is_placeholder


def test_rsa_key_accepted_under_its_signature_names() -> None:
    key = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
    blob = key.export_public_key().decode().split()[1]
    assert parse_host_key(f"rsa-sha2-256 {blob}").key_type == "ssh-rsa"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("skip", "not a recognizable host key"),
        ("ssh-ed25519", "no base64 key"),
        ("ssh-ed25519 ###", "not valid base64"),
        ("ssh-ed25519 AAAA", "truncated"),
        (f"ssh-rsa {PLACEHOLDER_HOST_KEY.split()[1]}", "is a ssh-ed25519 key, not ssh-rsa"),
        ("SHA256:short", "43 base64 characters"),
        ("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "too weak"),
        ("16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "too weak"),
    ],
)
def test_unrecognizable_host_keys(text: str, message: str) -> None:
    with pytest.raises(HostKeyFormatError, match=message):
        parse_host_key(text)
