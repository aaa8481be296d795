"""One host-key parser (ml_connector.hostkey): what config validation accepts, the SFTP adapter accepts,
and a pin the adapter would refuse at connect time is refused when the configuration is loaded."""

from __future__ import annotations

import asyncssh
import pytest

from ml_connector.adapters.sftp.hostkeys import HostKeyPin
from ml_connector.errors import ConfigError
from ml_connector.hostkey import HostKeyFormatError, parse_host_key, parse_pin

KEY = asyncssh.generate_private_key("ssh-ed25519")
PUB = " ".join(KEY.export_public_key("openssh").decode().split()[:2])
FP = str(KEY.get_fingerprint("sha256"))
OTHER_PUB = " ".join(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2])
RSA = asyncssh.generate_private_key("ssh-rsa", key_size=1024)
RSA_B64 = RSA.export_public_key("openssh").decode().split()[1]


def _pub(key: asyncssh.SSHKey) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(key.export_public_key("openssh"))


@pytest.mark.parametrize(
    "pin",
    [
        PUB,
        f"{PUB} operator@laptop",
        FP,
        f"[sftp.example.com]:2222 {PUB}",
        f"# rotation\n{FP}\n\nSHA256:{'A' * 43}",
        f"@revoked * {OTHER_PUB}\n[sftp.example.com]:2222 {PUB}",
    ],
)
def test_every_form_is_read_alike_by_config_and_adapter(pin: str) -> None:
    first = parse_host_key(pin)  # config validation
    assert first.fingerprint == FP or pin.startswith("# rotation")
    assert HostKeyPin(pin).accepts("sftp.example.com", "192.0.2.1", 2222, _pub(KEY))


@pytest.mark.parametrize(
    ("pin", "message"),
    [
        ("# only a comment", "is empty"),
        (f"{FP}\nSHA256:short", "43 base64 characters"),  # the second line counts too
        (f"{PUB}\nnot a key", "not a recognizable host key"),
        (f"a b {PUB}", "not a recognizable host key"),  # not a known_hosts line: the adapter refused it
        (f"@revoked * {PUB}", "only revokes keys"),
        (f"ssh-rsa {PUB.split()[1]}", "is a ssh-ed25519 key, not ssh-rsa"),
    ],
)
def test_refused_alike_by_config_and_adapter(pin: str, message: str) -> None:
    with pytest.raises(HostKeyFormatError, match=message):
        parse_host_key(pin)
    if "revokes" not in message:  # the adapter takes a revocation list on its own (it trusts nothing)
        with pytest.raises(ConfigError):
            HostKeyPin(pin)


def test_known_hosts_line_under_an_rsa_signature_name_is_bound_to_its_host() -> None:
    [line] = parse_pin(f"[h.example]:2222 rsa-sha2-256 {RSA_B64}")
    assert line.hosts == "[h.example]:2222" and line.key.key_type == "ssh-rsa"
    assert line.known_hosts_line == f"[h.example]:2222 ssh-rsa {RSA_B64}"
    pin = HostKeyPin(f"[h.example]:2222 rsa-sha2-256 {RSA_B64}")
    assert pin.accepts("h.example", "192.0.2.1", 2222, _pub(RSA))
    assert not pin.accepts("other.example", "192.0.2.1", 2222, _pub(RSA))
