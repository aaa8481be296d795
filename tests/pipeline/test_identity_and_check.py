"""Issue 12.4 and 12.5 over real servers (OpenSSH sshd, the Visma simulator over HTTP):

* a ledger knows whose it is: pointed at another Visma company, or used under a connection's new
  name, ``run`` refuses (posting nothing) and says what changed and how to proceed on purpose;
* ``run``'s exit code tells parked documents apart from a clean run;
* ``check`` names every folder, mapped account and credential that is wrong, with its config key.
"""

from __future__ import annotations

import asyncio
import json
import os

from ml_connector import exitcodes, service
from tests.pipeline.conftest import VISMA_ENV, Connection, Dataset


def _edit(c: Connection, old: str, new: str) -> None:
    text = c.config_path.read_text(encoding="utf-8")
    assert old in text, old
    c.config_path.write_text(text.replace(old, new), encoding="utf-8")


def _batches(c: Connection) -> int:
    return len(c.sim.journal())


def test_ledger_refuses_another_company_and_a_renamed_connection(connection: Connection) -> None:
    c = connection
    ds = Dataset.make(8, missing=1)
    ids = [i for i in ds.invoice_ids if ds.approved(i)]
    parked = [i for i in ids if i in ds.missing_ids]
    assert parked
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids))

    first = c.cli("run")
    assert first.returncode == exitcodes.PARKED, f"{first.stdout}\n{first.stderr}"
    assert "exit 3" in first.stdout and "failures" in first.stdout
    c.assert_exactly_once(ds.expected([i for i in ids if i not in parked], payments=False))
    posted = _batches(c)

    # Another Visma company under the same connection: refused before anything is read or sent.
    company = c.sim.company_id
    _edit(c, f'company_id = "{company}"', 'company_id = "999999"')
    moved = c.cli("run")
    assert moved.returncode == exitcodes.FAILED, moved.stdout
    out = " ".join(moved.stdout.split())
    assert f"Visma company was {company}, the configuration now says 999999 (visma.company_id)" in out, out
    assert "ledger accept acme" in out
    checked = c.cli("check", "--json")
    [identity] = [r for r in json.loads(checked.stdout) if r["side"] == "ledger"]
    assert not identity["ok"] and "visma.company_id" in identity["detail"]
    _edit(c, 'company_id = "999999"', f'company_id = "{company}"')

    # The same connection renamed: its history would look new and everything would post again.
    _edit(c, "[connections.acme", "[connections.acme2")
    renamed = c.cli("run")
    assert renamed.returncode == exitcodes.FAILED, renamed.stdout
    out = " ".join(renamed.stdout.split())
    assert "connection 'acme2' is new to this ledger, but 'acme' already posted" in out, out
    assert "ledger accept acme2" in out
    assert _batches(c) == posted  # nothing was sent twice
    c.assert_exactly_once(ds.expected([i for i in ids if i not in parked], payments=False))

    shown = c.cli("ledger", "identity")
    assert shown.returncode == 1 and "refused" in shown.stdout
    accepted = c.cli("ledger", "accept", "acme2")
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted Stampli company C100234" in " ".join(accepted.stdout.split())
    shown = c.cli("ledger", "identity")
    assert shown.returncode == 0, shown.stdout
    assert "not in the configuration" in shown.stdout  # the old name's history is still listed


def test_check_names_every_folder_account_and_credential_to_fix(connection: Connection) -> None:
    c = connection
    vendors = f"{c.remote_root}/vendors"
    _edit(
        c,
        f'payments_folder = "{c.remote_root}/payments"',
        f'payments_folder = "{c.remote_root}/payments"\nvendors_folder = "{vendors}"',
    )
    _edit(c, '"SEB-5000.00.58398" = "1920"', '"SEB-5000.00.58398" = "9999"')
    c.sim.deactivate_account("2711")

    def rows() -> dict[str, tuple[bool, str]]:
        app = c.open_app()
        found = asyncio.run(service.check(app, c.name))
        return {r.check: (r.ok, r.detail) for r in found}

    got = rows()
    assert got["sftp login + pinned host key"][0]
    assert got[f"folder {c.remote_root}/invoices"] == (True, "exists")
    ok, detail = got[f"folder {vendors}"]
    assert not ok and "does not exist" in detail and "sftp.vendors_folder" in detail, detail
    assert got["account 2460 (mapping.credit_account)"][0]
    ok, detail = got['account 9999 (mapping.bank_accounts."SEB-5000.00.58398")']
    assert not ok and "does not exist" in detail, detail
    ok, detail = got['account 2711 (mapping.tax_accounts."11")']
    assert not ok and "inactive" in detail, detail
    assert got["segment 1 value 0000 (mapping.default_segments.1)"][0]

    # The vendors folder, once there and owned by the SFTP user, is writable; a root-owned one is not.
    folder = c.sftp.mkdir(vendors)
    assert rows()[f"folder {vendors}"] == (True, "exists and is writable")
    folder.chmod(0o755)
    os.chown(folder, 0, 0)
    ok, detail = rows()[f"folder {vendors}"]
    assert not ok and "permission denied" in detail, detail

    # A refused secret and a refused company id name the key to fix.
    c.environ[VISMA_ENV] = "wrong-secret"
    ok, detail = rows()["token + ipp-company-id"]
    assert not ok and "fix client_id and client_secret in [connections.acme.visma]" in detail, detail
    c.environ[VISMA_ENV] = c.sim.client_secret
    _edit(c, f'company_id = "{c.sim.company_id}"', 'company_id = "999999"')
    ok, detail = rows()["token + ipp-company-id"]
    assert not ok and "fix company_id in [connections.acme.visma]" in detail, detail
