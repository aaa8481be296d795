"""``demo --serve`` and a usable ``demo --keep`` (issue 13 point 12): after the story the dashboard
runs on the demo's data, the URL and a login are printed once it accepts connections, SIGTERM stops
it cleanly; the kept folder holds the vault's master key (0600), so ``dashboard -c`` works there."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support.sshd import free_port
from tests.web.conftest import Web

CONSOLE = Path(sys.executable).with_name("ml-connector")


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r}: {''.join(seen)}")


def test_demo_serve_then_the_kept_folder_opens_in_the_dashboard(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    env["TMPDIR"] = str(tmp_path)
    demo = subprocess.Popen(
        [str(CONSOLE), "demo", "--invoices", "12", "--serve", "--keep", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        m = _wait_for_line(demo, r"dashboard: (http://127\.0\.0\.1:\d+/)  login: (\S+) / (\S+)", 240)
        url, user, password = m.groups()
        # printed only once the dashboard accepts connections: the first request succeeds
        web = Web(url.rstrip("/"))
        assert web.login(user, password).status_code == 303
        docs = web.http.get("/api/documents").json()
        assert any(d["status"] == "posted" for d in docs), docs
        web.close()
        demo.send_signal(signal.SIGTERM)
        out, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, out + err
    assert "demo stopped" in out and "Traceback" not in err, err
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("ml-connector-demo-")]
    key = kept / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    port = free_port()
    dashboard = subprocess.Popen(
        [str(CONSOLE), "dashboard", "-c", str(kept / "ml-connector.toml"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx2.get(f"http://127.0.0.1:{port}/login", timeout=5)
                break
            except httpx2.TransportError:
                assert dashboard.poll() is None, dashboard.communicate()
                assert time.monotonic() < deadline, "the dashboard on the kept folder did not start"
                time.sleep(0.2)
        assert page.status_code == 200
        web = Web(f"http://127.0.0.1:{port}")
        assert web.login(user, password).status_code == 303  # the same ledger, the same demo user
        web.close()
    finally:
        dashboard.send_signal(signal.SIGTERM)
        dashboard.communicate(timeout=30)
