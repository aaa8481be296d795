"""`ml-connector masterdata export` as a user runs it, and the coding lists on their schedule in
`serve`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from ml_connector import service
from ml_connector.ledger.masterdata_store import MasterdataStore
from tests.masterdata.conftest import CodingEnv


def _cli(env: CodingEnv, *args: str) -> subprocess.CompletedProcess[str]:
    cli = [str(Path(sys.executable).with_name("ml-connector")), "masterdata", "export"]
    return subprocess.run(
        [*cli, "--config", str(env.config_path), *args],
        env={**env.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_cli_lists_dry_run_full_and_delta(cenv: CodingEnv) -> None:
    dry = _cli(cenv, "--list", "vat_codes", "--list", "credit_terms", "--full", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    [summary] = json.loads(dry.stdout)
    assert summary["vendors"] is None
    lists = summary["coding_lists"]
    assert lists["dry_run"] and [lr["name"] for lr in lists["lists"]] == ["vat_codes", "credit_terms"]
    assert all(lr["remote_path"] is None and lr["rows"] > 0 for lr in lists["lists"])
    assert cenv.files() == [] and MasterdataStore(cenv.app.ledger).uploads("acme") == []

    # no --list: the suppliers plus every configured list, as full files
    full = _cli(cenv, "--full", "--json")
    assert full.returncode == 0, full.stderr
    [summary] = json.loads(full.stdout)
    assert summary["vendors"]["status"] == "ok" and len(cenv.files("vendors")) == 1
    names = [lr["name"] for lr in summary["coding_lists"]["lists"]]
    assert names == ["accounts", "cost_centers", "projects", "vat_codes", "credit_terms"]
    assert len(cenv.files()) == 5

    cenv.sim.add_segment_value(1, "0450", "Prosjektkontor")
    text = _cli(cenv, "--list", "cost_centers")  # delta is the default
    assert text.returncode == 0, text.stderr
    assert "cost_centers (delta): 1 -> " in text.stdout and "_delta.csv" in text.stdout
    unchanged = _cli(cenv, "--list", "accounts", "--list", "vendors")
    assert unchanged.returncode == 0, unchanged.stderr
    assert (
        "vendors (delta): unchanged" in unchanged.stdout and "accounts (delta): unchanged" in unchanged.stdout
    )

    wrong = _cli(cenv, "--list", "gl_accounts")
    assert wrong.returncode != 0 and "unknown list 'gl_accounts'" in wrong.stderr
    both = _cli(cenv, "--full", "--delta")
    assert both.returncode != 0


def test_serve_exports_the_lists_before_its_first_cycle(cenv: CodingEnv) -> None:
    async def serve_until_files() -> list[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(service.serve(cenv.app, stop=stop))
        deadline = time.monotonic() + 60
        while len(cenv.files()) < 5 and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 60)
        return cenv.files()

    files = asyncio.run(serve_until_files())
    assert len(files) == 5 and all(f.endswith("_full.csv") for f in files)
    assert {u["mode"] for u in MasterdataStore(cenv.app.ledger).uploads("acme")} == {"full"}
