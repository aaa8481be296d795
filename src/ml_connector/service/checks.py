"""``ml-connector check``: can this connection work, and what exactly must be fixed if not.

Both sides of every connection are checked at once, each with a short timeout and one quick retry
(``Runtime.sftp/visma(quick=True)``), so a check with both sides down answers within seconds.

* Stampli (SFTP): login with the pinned host key; every configured folder exists; the vendors
  folder is writable when the vendor export is on.
* Visma: a token for the tenant and one read with the company id (a refusal names the
  configuration key to fix); every account the mapping names exists, is active and allows manual
  entry (the same rule the posting uses), and every default segment value exists and is active.
* Ledger: its recorded identity matches the configuration (``ml_connector.pipeline.identity``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ml_connector import wiring
from ml_connector.adapters.visma.classify import FATAL_IPP_CODES
from ml_connector.config.model import ConnectionConfig, MappingConfig
from ml_connector.errors import ConnectorError, DestinationError, HostKeyMismatchError
from ml_connector.pipeline.cycle import audit_host_key_mismatch
from ml_connector.pipeline.identity import identity_problem
from ml_connector.pipeline.masterdata import SEGMENT_VALUE, MasterData, segment_key
from ml_connector.pipeline.refresh import account_entries, segment_entries
from ml_connector.pipeline.rules import check_account
from ml_connector.pipeline.runtime import Runtime
from ml_connector.service.app import App


@dataclass
class CheckRow:
    connection: str
    side: str
    check: str
    ok: bool
    detail: str


async def check(app: App, connection: str | None = None) -> list[CheckRow]:
    runtimes = app.runtimes_to_run(connection)
    per_connection = await asyncio.gather(*(_connection(rt) for rt in runtimes))
    return [row for rows in per_connection for row in rows]


async def _connection(rt: Runtime) -> list[CheckRow]:
    stampli, visma = await asyncio.gather(_stampli(rt), _visma(rt))
    return [*stampli, *visma, _ledger(rt)]


def folders(cfg: ConnectionConfig) -> list[tuple[str, str, bool]]:
    """(configuration key, folder, must be writable) of every folder the connection uses."""
    s = cfg.sftp
    out = [
        ("sftp.invoices_folder", s.invoices_folder, False),
        ("sftp.payments_folder", s.payments_folder, False),
    ]
    if s.archive_folder:
        out.append(("sftp.archive_folder", s.archive_folder, True))
    if cfg.vendors.enabled:
        out.append(("sftp.vendors_folder", s.vendors_folder, True))
    return out


async def _stampli(rt: Runtime) -> list[CheckRow]:
    name = rt.name
    try:
        async with wiring.sftp_source(rt, quick=True) as src:
            rows = [CheckRow(name, "stampli", "sftp login + pinned host key", True, src.host_key_fingerprint)]
            for key, folder, writable in folders(rt.config):
                problem = await src.folder_problem(folder, writable=writable)
                fine = "exists and is writable" if writable else "exists"
                rows.append(
                    CheckRow(
                        name,
                        "stampli",
                        f"folder {folder}",
                        problem is None,
                        f"{problem}; fix {key} in [connections.{name}]" if problem else fine,
                    )
                )
            return rows
    except (ConnectorError, OSError) as exc:
        if isinstance(exc, HostKeyMismatchError):
            audit_host_key_mismatch(rt, exc)
        return [CheckRow(name, "stampli", "sftp", False, str(exc))]


def mapped_accounts(mapping: MappingConfig) -> list[tuple[str, str]]:
    """(configuration key, account number) of every account the mapping posts to."""
    out = [("mapping.credit_account", mapping.credit_account)]
    if mapping.default_bank_account:
        out.append(("mapping.default_bank_account", mapping.default_bank_account))
    out += [(f'mapping.bank_accounts."{k}"', v) for k, v in mapping.bank_accounts.items()]
    out += [(f'mapping.tax_accounts."{k}"', v) for k, v in mapping.tax_accounts.items()]
    for code, (input_vat, output_vat) in (mapping.reverse_charge or {}).items():
        out += [(f'mapping.reverse_charge."{code}" (input)', input_vat)]
        out += [(f'mapping.reverse_charge."{code}" (output)', output_vat)]
    for key in ("discount_account", "exchange_gain_account", "exchange_loss_account", "rounding_account"):
        account = getattr(mapping, key)
        if account:
            out.append((f"mapping.{key}", account))
    return out


def credentials_hint(connection: str, exc: DestinationError) -> str:
    """The configuration key to fix when Visma refuses the credentials or the company id."""
    code = str(exc.context.get("code") or "")
    if code in ("invalid_client", "unauthorized_client", "invalid_grant"):
        keys = "client_id and client_secret"
    elif code == "invalid_tenant":
        keys = "tenant_id"
    elif code in FATAL_IPP_CODES:
        keys = "company_id"
    elif exc.status in (401, 403):
        keys = "client_id, client_secret and tenant_id"
    else:
        return ""
    return f"; fix {keys} in [connections.{connection}.visma]"


async def _visma(rt: Runtime) -> list[CheckRow]:
    name, v = rt.name, rt.config.visma
    login = "token + ipp-company-id"
    try:
        async with rt.visma(quick=True) as visma:
            accounts = await visma.masterdata.accounts()
            segments = await visma.masterdata.subaccount_dimension()
    except DestinationError as exc:
        return [CheckRow(name, "visma", login, False, f"{exc}{credentials_hint(name, exc)}")]
    except ConnectorError as exc:
        return [CheckRow(name, "visma", login, False, str(exc))]
    rows = [CheckRow(name, "visma", login, True, f"tenant {v.tenant_id}, company {v.company_id}")]
    md = MasterData(
        v.company_id, accounts=account_entries(accounts), segment_values=segment_entries(segments)
    )
    mapping = rt.config.mapping
    for key, number in mapped_accounts(mapping):
        problems = check_account(number, md, mapping)
        detail = f"{problems[0].reason} (set in {key})" if problems else "exists, active, allows manual entry"
        rows.append(CheckRow(name, "visma", f"account {number} ({key})", not problems, detail))
    for segment_id, value in sorted(mapping.default_segments.items()):
        where = f"mapping.default_segments.{segment_id}"
        entry = md.segment_values.get(segment_key(segment_id, value))
        ok = md.has(SEGMENT_VALUE, segment_key(segment_id, value))
        state = "exists and is active" if ok else ("is inactive" if entry else "does not exist")
        rows.append(
            CheckRow(
                name,
                "visma",
                f"segment {segment_id} value {value} ({where})",
                ok,
                f"SUBACCOUNT segment {segment_id} value {value} {state} in Visma company {v.company_id}",
            )
        )
    return rows


def _ledger(rt: Runtime) -> CheckRow:
    known = rt.ledger.identities()
    problem = identity_problem(rt.config, known, rt.configured_names)
    if problem is not None:
        return CheckRow(rt.name, "ledger", "identity", False, problem)
    if rt.name in known:
        return CheckRow(rt.name, "ledger", "identity", True, f"matches: {known[rt.name].describe()}")
    return CheckRow(rt.name, "ledger", "identity", True, "new: recorded on the first run")
