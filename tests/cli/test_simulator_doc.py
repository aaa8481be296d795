"""docs/simulator.md's worked example, run as written (issue 13 point 1): both simulators, init,
the configuration, check, run, reconcile. Free ports are chosen at run time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.sshd import free_port

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "simulator.md").read_text(encoding="utf-8")


def _example() -> str:
    marker = DOC.index("<!-- simulator-worked-example -->")
    match = re.search(r"```bash\n(.*?)```", DOC[marker:], re.S)
    assert match, "the worked example block is missing"
    return match.group(1)


def test_simulator_doc_worked_example_checks_and_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_CONNECTOR_", "ACME_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SFTP_PORT"], env["VISMA_PORT"] = str(free_port()), str(free_port())
    env["COLUMNS"] = "200"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _example()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "FAILED" not in out and out.count(" ok ") >= 2, out  # check: both sides
    summary = next(ln for ln in out.splitlines() if "documents read:" in ln)
    assert re.search(r"\b[1-9]\d* new\b", summary), summary
    assert re.search(r"to Visma: [1-9]\d* posted, 0 parked", out), out
    assert "matched" in out and "missing_in_visma=0" in out, out
