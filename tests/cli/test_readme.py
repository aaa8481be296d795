"""The README's promises, run as written: the client example against the simulator, and the
test command that CI runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.visma_sim import VismaSim

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _client_example() -> str:
    marker = README.index("<!-- readme-client-example")
    match = re.search(r"```python\n(.*?)```", README[marker:], re.S)
    assert match, "the README's client example block is missing"
    return match.group(1)


def test_readme_client_example_reads_accounts_and_posts_a_balanced_journal(visma_sim: VismaSim) -> None:
    env = {
        **os.environ,
        "VISMA_CLIENT_ID": visma_sim.client_id,
        "VISMA_CLIENT_SECRET": visma_sim.client_secret,
        "VISMA_TENANT_ID": visma_sim.tenant_id,
        "VISMA_COMPANY_ID": visma_sim.company_id,
        "VISMA_API_URL": visma_sim.api_url,
        "VISMA_TOKEN_URL": visma_sim.token_url,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _client_example()], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"\d+ accounts", lines[0]) and int(lines[0].split()[0]) > 10
    _, number, debit, credit = lines[1].split()
    assert debit == credit == "100.00"
    stored = [b for b in visma_sim.journal() if b["batchNumber"] == number]
    assert len(stored) == 1


def test_ci_runs_exactly_the_readme_test_command() -> None:
    assert "./dev test" in README
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == "exec ./dev test"
