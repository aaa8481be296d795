"""A throwaway Debian OpenSSH server (internal-sftp, chrooted) on a loopback port, without pytest.

The one harness: the SFTP and main-flow tests start it through the pytest plugin
(tests/support/openssh.py), the benchmarks and the chaos run through bench/lib.py. Recipe:
/work/shared/docs/stack.md §4. Needs root (sshd reads /etc/shadow for passwords) and /usr/sbin/sshd;
`./dev test` installs openssh-server when it is missing.

Each server gets its own user (``<prefix><pid>``), port, host key and chroot under /srv (a chroot
under /tmp cannot work: every path component must be root-owned and not world-writable), so
several runs on one machine do not collide.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = Path("/usr/sbin/sshd")


class SshdError(RuntimeError):
    """sshd could not be set up or did not start; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why no sshd can be started here (missing binary, not root), or None."""
    if not SSHD.exists():
        return (
            "/usr/sbin/sshd is missing: the SFTP tests and benchmarks need Debian's openssh-server. "
            "`./dev test` installs it (or: apt-get install -y --no-install-recommends openssh-server)."
        )
    if os.geteuid() != 0:
        return "a throwaway sshd must be started as root (sshd reads /etc/shadow)"
    return None


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _reap_stale_users(prefix: str) -> None:
    """Remove users left by earlier runs whose process is gone."""
    for entry in pwd.getpwall():
        name = entry.pw_name
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            pid = int(name[len(prefix) :])
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                subprocess.run(["userdel", name], capture_output=True, check=False)


@dataclass
class OpenSshServer:
    host: str
    port: int
    user: str
    password: str
    state_dir: Path
    root: Path  # the chroot: the client's "/"
    host_key_line: str  # known_hosts form: "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    host_key_fingerprint: str
    client_key_path: Path
    client_key_text: str  # OpenSSH format, no passphrase
    client_key_enc_path: Path
    client_key_enc_text: str  # PKCS#8 PEM, encrypted
    client_key_passphrase: str
    config_path: Path
    known_hosts: Path  # holds host_key_line, for OpenSSH's own client
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    kills: int = 0
    drops: int = 0

    def __repr__(self) -> str:
        return f"OpenSshServer({self.user}@{self.host}:{self.port}, root={self.root})"

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA...``: the pin without the known_hosts host field."""
        return self.host_key_line.split(" ", 1)[1]

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with (self.state_dir / "sshd.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-f", str(self.config_path), "-D", "-e", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdError(f"sshd exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise SshdError(f"sshd did not listen on {self.host}:{self.port}:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the listener and every per-connection sshd process (each connection runs
        in its own session, so killing the process group is not enough)."""
        if self.proc is None:
            return
        for pid in [*_descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def restart(self) -> None:
        """Kill (if running) and start again on the same port with the same host key."""
        if self.is_running():
            self.kill()
        self.start()

    def drop_connections(self) -> int:
        """SIGKILL every per-connection sshd (the listener stays): clients see a dropped connection."""
        if self.proc is None:
            return 0
        n = 0
        for pid in _descendants(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                n += 1
        self.drops += 1 if n else 0
        return n

    def remove(self) -> None:
        """Kill sshd, delete the user, the chroot and the state folder."""
        self.kill()
        self.proc = None
        subprocess.run(["userdel", self.user], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.state_dir / "sshd.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no sshd.log)"

    def mkdir(self, rel: str) -> Path:
        """Create ``root/rel`` (and parents below root) owned by the SFTP user."""
        path = self.root / rel.strip("/")
        path.mkdir(parents=True, exist_ok=True)
        p = path
        while p != self.root:
            os.chown(p, self.uid, self.uid)
            p = p.parent
        return path

    def put(self, rel_folder: str, name: str, data: str | bytes, *, mtime: float | None = None) -> Path:
        """A file as Stampli leaves it: finished long ago (an hour unless ``mtime``), the user's."""
        path = self.mkdir(rel_folder) / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8", newline="")
        else:
            path.write_bytes(data)
        os.chown(path, self.uid, self.uid)
        stamp = mtime if mtime is not None else time.time() - 3600
        os.utime(path, (stamp, stamp))
        return path


def _sshd_config(s: OpenSshServer, keys: Path, auth_dir: Path, max_startups: str | None) -> str:
    return "\n".join(
        [
            f"Port {s.port}",
            f"ListenAddress {s.host}",
            f"HostKey {keys / 'host_ed25519'}",
            f"PidFile {s.state_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {auth_dir}/%u",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            f"AllowUsers {s.user}",
            "MaxAuthTries 6",
            *([f"MaxStartups {max_startups}"] if max_startups else []),
            "Subsystem sftp internal-sftp",
            f"Match User {s.user}",
            f"    ChrootDirectory {s.root}",
            "    ForceCommand internal-sftp -d /",
            "    AllowTcpForwarding no",
            "    X11Forwarding no",
            "    PermitTTY no",
            "",
        ]
    )


def create_server(
    *, user_prefix: str, tmp_prefix: str = "ml-connector-", max_startups: str | None = None
) -> OpenSshServer:
    """Set up user, keys, chroot and sshd_config (checked with ``sshd -t``); not started yet.

    ``user_prefix`` names the throwaway user (``<prefix><pid>``); ``tmp_prefix`` the state folder
    and chroot; ``max_startups`` raises sshd's limit on unauthenticated connections (the benchmarks
    open many at once). Raise ``SshdError`` when sshd cannot run here."""
    reason = unavailable_reason()
    if reason:
        raise SshdError(reason)
    _reap_stale_users(user_prefix)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    # Not under a pytest tmp dir: sshd reads authorized_keys as the SFTP user, and those are 0700.
    state = Path(tempfile.mkdtemp(prefix=f"{tmp_prefix}sshd-"))
    state.chmod(0o755)
    keys = state / "keys"
    auth_dir = state / "authorized_keys"
    keys.mkdir()
    auth_dir.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(keys / "host_ed25519")],
        check=True,
    )
    host_pub = (keys / "host_ed25519.pub").read_text().split()[:2]
    plain = asyncssh.generate_private_key("ssh-ed25519")
    enc = asyncssh.generate_private_key("ssh-ed25519")
    passphrase = "pp-" + secrets.token_urlsafe(10)
    plain_text = plain.export_private_key("openssh").decode()
    enc_text = enc.export_private_key("pkcs8-pem", passphrase).decode()
    (keys / "client_ed25519").write_text(plain_text)
    (keys / "client_ed25519_enc").write_text(enc_text)
    for p in (keys / "client_ed25519", keys / "client_ed25519_enc"):
        p.chmod(0o600)

    user = f"{user_prefix}{os.getpid()}"
    password = "pw-" + secrets.token_urlsafe(12)
    root = Path(tempfile.mkdtemp(prefix=f"{tmp_prefix}sftp-", dir="/srv"))
    root.chmod(0o755)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", "/", "--shell", "/usr/sbin/nologin", user],
        check=True,
        capture_output=True,
    )
    subprocess.run(["chpasswd"], input=f"{user}:{password}".encode(), check=True, capture_output=True)
    (auth_dir / user).write_text(
        plain.export_public_key("openssh").decode() + enc.export_public_key("openssh").decode()
    )
    port = free_port()
    fp = asyncssh.import_public_key(" ".join(host_pub)).get_fingerprint("sha256")
    server = OpenSshServer(
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        state_dir=state,
        root=root,
        host_key_line=f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}",
        host_key_fingerprint=str(fp),
        client_key_path=keys / "client_ed25519",
        client_key_text=plain_text,
        client_key_enc_path=keys / "client_ed25519_enc",
        client_key_enc_text=enc_text,
        client_key_passphrase=passphrase,
        config_path=state / "sshd_config",
        known_hosts=state / "known_hosts",
    )
    server.known_hosts.write_text(server.host_key_line + "\n")
    server.config_path.write_text(_sshd_config(server, keys, auth_dir, max_startups))
    check = subprocess.run([str(SSHD), "-t", "-f", str(server.config_path)], capture_output=True, text=True)
    if check.returncode != 0:
        server.remove()
        raise SshdError(f"sshd -t rejected the config: {check.stderr.strip()}")
    return server
