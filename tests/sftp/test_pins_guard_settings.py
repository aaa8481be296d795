"""Pure parts: host-key pins, endpoint parsing, settings validation and repr, the partial-file guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncssh
import pytest

from ml_connector.adapters.sftp import SftpSettings
from ml_connector.adapters.sftp.guard import is_candidate, split_by_age, stable
from ml_connector.adapters.sftp.hostkeys import HostKeyPin, known_hosts_host, parse_endpoint
from ml_connector.domain.files import RemoteFile
from ml_connector.errors import ConfigError

KEY = asyncssh.generate_private_key("ssh-ed25519")
PUB = " ".join(KEY.export_public_key("openssh").decode().split()[:2])
FP = str(KEY.get_fingerprint("sha256"))
OTHER = asyncssh.generate_private_key("ssh-ed25519")


def _pub(key: asyncssh.SSHKey) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(key.export_public_key("openssh"))


@pytest.mark.parametrize(
    "pin",
    [
        f"[sftp.example.com]:2222 {PUB}",
        f"{PUB} operator@laptop",
        FP,
        FP + "=",  # base64 padding as some tools print it
        f"# comment\n\n{OTHER.get_fingerprint('sha256')}\n{FP}",  # rotation: any pin may match
    ],
    # Fixed ids: the keys are generated at import, and xdist needs the same test ids on every worker.
    ids=["known_hosts_line", "key_with_comment", "fingerprint", "fingerprint_padded", "rotation"],
)
def test_pin_forms_accept_the_key_and_refuse_another(pin: str) -> None:
    p = HostKeyPin(pin)
    assert p.accepts("sftp.example.com", "192.0.2.1", 2222, _pub(KEY))
    assert not p.accepts(
        "sftp.example.com", "192.0.2.1", 2222, _pub(asyncssh.generate_private_key("ssh-ed25519"))
    )


def test_known_hosts_pin_is_bound_to_host_and_port() -> None:
    p = HostKeyPin(f"[sftp.example.com]:2222 {PUB}")
    assert not p.accepts("evil.example.com", "192.0.2.9", 2222, _pub(KEY))
    assert not p.accepts("sftp.example.com", "192.0.2.1", 2223, _pub(KEY))
    plain = HostKeyPin(f"sftp.example.com {PUB}")
    assert plain.accepts("sftp.example.com", "192.0.2.1", 22, _pub(KEY))


def test_revoked_marker_wins() -> None:
    p = HostKeyPin(f"sftp.example.com {PUB}\n@revoked * {PUB}")
    assert not p.accepts("sftp.example.com", "192.0.2.1", 22, _pub(KEY))
    assert "revoked" in p.expected


def test_bare_key_pin_restricts_negotiation_to_its_type() -> None:
    assert HostKeyPin(PUB).host_key_algs() == ["ssh-ed25519"]
    assert HostKeyPin(FP).host_key_algs() is None


@pytest.mark.parametrize(
    "bad", ["yes", "SHA256:not-base64!", "SHA256:AAAA", "ssh-ed25519 AAAAnotakey", "# only"]
)
def test_bad_pins_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        HostKeyPin(bad)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("sftp.example.com", ("sftp.example.com", 22)),
        ("sftp.example.com:2222", ("sftp.example.com", 2222)),
        ("[::1]:2200", ("::1", 2200)),
        ("[sftp.example.com]:2201", ("sftp.example.com", 2201)),
        ("::1", ("::1", 22)),
    ],
)
def test_parse_endpoint(text: str, want: tuple[str, int]) -> None:
    assert parse_endpoint(text) == want


@pytest.mark.parametrize("bad", ["", "host:notaport", "host:0", "host:70000"])
def test_parse_endpoint_rejects(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(bad)


def test_known_hosts_host_form() -> None:
    assert known_hosts_host("h", 22) == "h"
    assert known_hosts_host("h", 2222) == "[h]:2222"


def test_settings_repr_hides_secrets() -> None:
    s = SftpSettings(
        host="h",
        username="u",
        password="hunter2-password",
        private_key=KEY.export_private_key("openssh").decode(),
        private_key_passphrase="the-passphrase",
        host_key=FP,
    )
    text = repr(s) + str(s)
    assert "hunter2-password" not in text and "the-passphrase" not in text and "PRIVATE KEY" not in text
    assert "host='h'" in text and s.endpoint == "h:22"
    assert s.archive_folder is None  # never move files unless configured


def test_settings_report_every_problem_and_require_a_pin() -> None:
    with pytest.raises(ConfigError) as info:
        SftpSettings(host="", port=0, username="u", host_key=" ", connect_timeout=0)
    problems = info.value.problems
    assert len(problems) == 5
    assert any("host_key is empty" in p for p in problems)
    assert any("password or a private key" in p for p in problems)


def test_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        SftpSettings("h", 22, "u")  # type: ignore[call-arg]


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a.csv", True),
        ("a.CSV.TMP", False),
        ("a.csv.part", False),
        ("a.filepart", False),
        ("a.partial", False),
        (".a.csv", False),
        ("..", False),
        ("a.xml", False),
    ],
)
def test_is_candidate(name: str, ok: bool) -> None:
    assert is_candidate(name, "*.csv", (".tmp", ".part", ".filepart", ".partial")) is ok


def test_split_by_age_and_stability() -> None:
    old = RemoteFile("/o/old.csv", 10, NOW - timedelta(seconds=121))
    young = RemoteFile("/o/young.csv", 10, NOW - timedelta(seconds=5))
    future = RemoteFile("/o/future.csv", 10, NOW + timedelta(hours=1))  # clock skew: never "old"
    o, y = split_by_age({f.path: f for f in (old, young, future)}, NOW, 120)
    assert o == [old] and y == [young, future]
    grown = RemoteFile(young.path, 11, young.mtime)
    assert stable(y, {young.path: grown, future.path: future}) == [future]
    assert stable(y, {}) == []  # a file that vanished is not ready
