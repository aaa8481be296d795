"""SftpSource against a real OpenSSH sshd and against the embedded asyncssh server."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from ml_connector.adapters.sftp import SftpSource
from ml_connector.errors import (
    ConfigError,
    FatalSourceError,
    HostKeyMismatchError,
    TransientSourceError,
)
from ml_connector.retry import SFTP_POLICY, RetryPolicy
from tests.sftp.conftest import Target

FAST = RetryPolicy(attempts=4, base_delay=1.0, max_delay=5.0, total_timeout=60.0)


@pytest.mark.parametrize("auth", ["password", "key", "key+passphrase"])
async def test_login_lists_folder_with_aes_gcm(target: Target, auth: str) -> None:
    target.put("a.csv", b"x")
    async with SftpSource(target.settings(auth)) as src:
        info = await src.ping(target.folder)
    assert info["entries"] == 1
    assert info["host_key"] == target.host_key_fingerprint
    assert info["cipher"] == "aes128-gcm@openssh.com"
    assert info["username"] == target.username


@pytest.mark.parametrize("form", ["known_hosts", "public_key", "fingerprint"])
async def test_all_three_pin_forms_connect(target: Target, form: str) -> None:
    pin = {
        "known_hosts": target.host_key_line,
        "public_key": " ".join(target.host_key_line.split()[1:]) + " some-comment",
        "fingerprint": target.host_key_fingerprint,
    }[form]
    async with SftpSource(target.settings(host_key=pin)) as src:
        assert (await src.ping(target.folder))["host_key"] == target.host_key_fingerprint


@pytest.mark.parametrize("form", ["known_hosts", "public_key", "fingerprint"])
async def test_wrong_host_key_is_refused_with_both_fingerprints(target: Target, form: str) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_pub = " ".join(other.export_public_key("openssh").decode().split()[:2])
    other_fp = other.get_fingerprint("sha256")
    pin = {
        "known_hosts": f"[{target.host}]:{target.port} {other_pub}",
        "public_key": other_pub,
        "fingerprint": other_fp,
    }[form]
    started = time.monotonic()
    with pytest.raises(HostKeyMismatchError) as info:
        async with SftpSource(target.settings(host_key=pin), policy=FAST):
            pass
    msg = str(info.value)
    assert f"{target.host}:{target.port}" in msg
    assert other_fp in msg  # the pinned one
    assert target.host_key_fingerprint in msg  # the one the server presented
    assert "Traceback" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert time.monotonic() - started < 5  # not retried: a mismatch is fatal


async def test_known_hosts_line_for_another_host_does_not_match(target: Target) -> None:
    pub = " ".join(target.host_key_line.split()[1:])
    with pytest.raises(HostKeyMismatchError, match="pinned key"):
        async with SftpSource(target.settings(host_key=f"sftp.elsewhere.example {pub}"), policy=FAST):
            pass


async def test_wrong_password_is_fatal_and_secret_free(target: Target) -> None:
    wrong = "Wr0ng-" + target.password
    with pytest.raises(FatalSourceError) as info:
        async with SftpSource(target.settings(password=wrong), policy=FAST):
            pass
    assert not isinstance(info.value, HostKeyMismatchError)
    assert "login refused" in str(info.value)
    assert wrong not in str(info.value) and target.password not in str(info.value)


async def test_wrong_passphrase_is_a_config_error_without_the_passphrase(target: Target) -> None:
    bad = "not-the-passphrase-123"
    with pytest.raises(ConfigError, match="passphrase") as info:
        async with SftpSource(target.settings("key+passphrase", private_key_passphrase=bad)):
            pass
    assert bad not in str(info.value)


async def test_secrets_never_in_logs_reprs_or_errors(
    target: Target, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = target.settings("key+passphrase", password=target.password)
    target.put("s.csv", b"secret-free")
    async with SftpSource(settings) as src:
        files = await src.list_ready(target.folder)
        await src.download(files[0], tmp_path / "dl")
        assert target.password not in repr(src)
    errors: list[str] = []
    for bad in (
        target.settings(password="Bad-" + target.password),
        target.settings(host_key="SHA256:" + "A" * 43),
    ):
        try:
            async with SftpSource(bad, policy=FAST):
                pass
        except Exception as exc:
            errors.append(f"{exc!r} {exc}")
    assert len(errors) == 2
    key_body = target.client_key_enc.splitlines()[1]
    text = caplog.text + repr(settings) + " ".join(errors)
    for secret in (target.password, target.passphrase, key_body):
        assert secret not in text
    assert "sftp connected" in caplog.text  # the logs were captured at all


async def test_list_ready_applies_name_rules_and_sorts(target: Target) -> None:
    for name in (
        "b.csv",
        "a.csv",
        "a.xml",
        "c.csv.tmp",
        "d.csv.part",
        "e.filepart",
        "f.PARTIAL",
        ".hidden.csv",
    ):
        target.put(name, b"1", age=600)
    target.mkdir(f"{target.folder}/sub.csv")
    async with SftpSource(target.settings(min_file_age=120)) as src:
        all_ready = await src.list_ready(target.folder)
        csv_only = await src.list_ready(target.folder, "*.csv")
    assert [f.path for f in all_ready] == [f"{target.folder}/{n}" for n in ("a.csv", "a.xml", "b.csv")]
    assert [f.name for f in csv_only] == ["a.csv", "b.csv"]
    f = csv_only[0]
    assert f.size == 1 and f.mtime.tzinfo is UTC
    assert abs((datetime.now(UTC) - f.mtime).total_seconds() - 600) < 5


async def test_growing_file_not_picked_up_until_stable(target: Target) -> None:
    target.put("old.csv", b"done", age=3600)
    growing = target.put("grow.csv", b"start\n")
    stop = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            with growing.open("ab") as fh:
                fh.write(b"more,rows\n")
            await asyncio.sleep(0.02)

    task = asyncio.create_task(writer())
    settings = target.settings(min_file_age=300, stability_wait=0.3)
    try:
        async with SftpSource(settings) as src:
            while_growing = await src.list_ready(target.folder)
            stop.set()
            await task
            after = await src.list_ready(target.folder)
    finally:
        stop.set()
        await task
    assert [f.name for f in while_growing] == ["old.csv"]
    assert [f.name for f in after] == ["grow.csv", "old.csv"]
    assert after[0].size == growing.stat().st_size


async def test_download_streams_with_sha256(target: Target, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    target.put("big.bin", data)
    seen: list[int] = []
    async with SftpSource(target.settings("key")) as src:
        (remote,) = await src.list_ready(target.folder)
        got = await src.download(remote, tmp_path / "in", on_progress=lambda done, total: seen.append(done))
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.size == len(data) and got.local_path.read_bytes() == data
    assert got.local_path == tmp_path / "in" / "big.bin"
    assert not (tmp_path / "in" / "big.bin.part").exists()
    assert seen == sorted(seen) and seen[-1] == len(data) and len(seen) >= 4


async def test_server_killed_mid_download_completes_after_backoff(
    target: Target, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = os.urandom(12 * 1024 * 1024)
    target.put("big.bin", data)
    events: list[str] = []
    background: set[asyncio.Task[None]] = set()

    async def outage() -> None:
        await target.kill()
        events.append("killed")
        await asyncio.sleep(0.05)
        await target.restart()
        events.append("restarted")

    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if not events and done < total:
            events.append(f"at {done}")
            t = asyncio.get_running_loop().create_task(outage())
            background.add(t)

    caplog.set_level(logging.WARNING, logger="ml_connector.retry")
    # The production SFTP_POLICY (delays x0.01), with more attempts so a slow restart on a busy
    # machine cannot exhaust it.
    async with SftpSource(target.settings(), policy=replace(SFTP_POLICY, attempts=10)) as src:
        (remote,) = await src.list_ready(target.folder)
        got = await src.download(remote, tmp_path, on_progress=progress)
    await asyncio.gather(*background)
    assert events[1:] == ["killed", "restarted"]
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.local_path.read_bytes() == data
    assert "retry" in caplog.text  # it backed off at least once
    assert seen == sorted(set(seen))  # resumed where it stopped, never started over


async def test_download_of_a_file_that_changed_is_transient(target: Target, tmp_path: Path) -> None:
    path = target.put("x.csv", b"one")
    async with SftpSource(target.settings()) as src:
        (remote,) = await src.list_ready(target.folder)
        path.write_bytes(b"one-and-more")
        with pytest.raises(TransientSourceError, match="changed while downloading"):
            await src.download(remote, tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []  # no half-written .part left behind


async def test_upload_atomic_renames_over_existing(target: Target, tmp_path: Path) -> None:
    target.put("vendors.csv", b"old")
    async with SftpSource(target.settings()) as src:
        final = await src.upload_atomic(b"new,content\n" * 1000, target.folder, "vendors.csv")
        payload = tmp_path / "payload.csv"
        payload.write_bytes(b"from a file")
        second = await src.upload_atomic(payload, target.folder, "second.csv")
    assert final == f"{target.folder}/vendors.csv"
    assert target.local(final).read_bytes() == b"new,content\n" * 1000
    assert target.local(second).read_bytes() == b"from a file"
    assert sorted(p.name for p in target.local(target.folder).iterdir()) == ["second.csv", "vendors.csv"]


async def test_archive_is_off_by_default(target: Target) -> None:
    path = target.put("keep.csv", b"1")
    async with SftpSource(target.settings()) as src:
        (remote,) = await src.list_ready(target.folder)
        assert await src.archive(remote) == remote.path
    assert path.read_bytes() == b"1"


async def test_archive_moves_into_dated_folder_without_overwriting(target: Target) -> None:
    target.put("inv.csv", b"first")
    now = datetime.now(UTC)
    async with SftpSource(target.settings(archive_folder="archive/{yyyy}/{MM}")) as src:
        (remote,) = await src.list_ready(target.folder)
        moved = await src.archive(remote)
        target.put("inv.csv", b"second")
        (again,) = await src.list_ready(target.folder)
        moved_again = await src.archive(again)
    assert moved == f"{target.folder}/archive/{now:%Y}/{now:%m}/inv.csv"
    assert target.local(moved).read_bytes() == b"first"
    assert moved_again != moved and target.local(moved_again).read_bytes() == b"second"
    assert not target.local(f"{target.folder}/inv.csv").exists()


async def test_missing_folder_is_fatal(target: Target) -> None:
    async with SftpSource(target.settings()) as src:
        with pytest.raises(FatalSourceError, match="no such file or folder"):
            await src.list_ready(f"{target.folder}/nope")
