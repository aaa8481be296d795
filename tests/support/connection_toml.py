"""The configuration of one connection to the throwaway sshd and the Visma simulator: the main-flow
tests (tests/pipeline/conftest.py) and the benchmarks (bench/lib.py) write the same file from here.
Secrets are env: references; the caller puts their values in the environment it runs with."""

from __future__ import annotations

from collections.abc import Mapping

from tests.support.sshd import OpenSshServer

VISMA_KEYS = ("api_url", "token_url", "client_id", "tenant_id", "company_id")


def connection_toml(
    *,
    name: str,
    sftp: OpenSshServer,
    remote_root: str,
    visma: Mapping[str, str],
    sftp_password_env: str,
    visma_secret_env: str,
    ledger_url: str | None,
    log_level: str,
    release: bool = True,
    closed_period_policy: str = "park",
    target: str = "journal",
    require_image: bool = False,
    payments_source: str = "stampli",
) -> str:
    """``ml-connector.toml`` text. ``visma`` holds ``VISMA_KEYS`` (the simulator's addresses and ids);
    ``ledger_url`` None leaves the ledger to ML_CONNECTOR_DATABASE_URL."""
    ledger = f'ledger_url = "{ledger_url}"\n' if ledger_url is not None else ""
    # A supplier payment in SEK needs a cash account in SEK (Visma refuses another currency's); the
    # journal target books it on the NOK bank account as it always has.
    sek_cash = "1922" if target == "supplier_invoice" else "1920"
    return f"""{ledger}
[log]
level = "{log_level}"

[connections.{name}]
stampli_company_id = "C100234"
profile = "canonical"

[connections.{name}.sftp]
host = "{sftp.host}"
port = {sftp.port}
username = "{sftp.user}"
password = "env:{sftp_password_env}"
host_key = "{sftp.host_public_key}"
invoices_folder = "{remote_root}/invoices"
payments_folder = "{remote_root}/payments"
min_file_age = 0
connect_timeout = 10

[connections.{name}.visma]
api_url = "{visma["api_url"]}"
token_url = "{visma["token_url"]}"
client_id = "{visma["client_id"]}"
client_secret = "env:{visma_secret_env}"
tenant_id = "{visma["tenant_id"]}"
company_id = "{visma["company_id"]}"
timeout = 10

[connections.{name}.mapping]
credit_account = "2460"
cost_center_field = "department"
cost_center_segment_id = 1
cost_center_length = 4
default_bank_account = "1920"

[connections.{name}.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.{name}.mapping.tax_accounts]
"1" = "2710"
"11" = "2711"

[connections.{name}.mapping.tax_codes]
"1" = "1"
"11" = "11"
"86" = "86"

[connections.{name}.mapping.bank_accounts]
"DNB-1503.12.34567" = "1920"
"DNB-EUR-1503.99.12345" = "1921"
"SEB-5000.00.58398" = "{sek_cash}"

[connections.{name}.posting]
release = {"true" if release else "false"}
closed_period_policy = "{closed_period_policy}"
target = "{target}"
require_image = {"true" if require_image else "false"}

[connections.{name}.payments]
source = "{payments_source}"
"""
