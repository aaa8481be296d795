"""The commented configuration template that ``ml-connector init`` writes."""

from __future__ import annotations

from ml_connector.hostkey import PLACEHOLDER_HOST_KEY

#: Environment variables the template refers to. Set them (or edit the references) before running.
TEMPLATE_ENV_VARS = ("ACME_SFTP_PASSWORD", "ACME_VISMA_CLIENT_SECRET")

_TEMPLATE = """\
# ml-connector configuration
# ==========================
# Picks up Stampli AP export files over SFTP and posts them into Visma.net ERP.
# Full reference: docs/configuration.md. Check this file with any ml-connector command; every
# problem is reported at once, with the key and line it came from.
#
# SECRETS ARE NEVER WRITTEN IN THIS FILE. Secret keys (password, private_key,
# private_key_passphrase, client_secret) hold a reference instead:
#     "vault:NAME"  the secret NAME in the encrypted vault ([vault] below; set it with
#                   `ml-connector secrets set NAME`, which prompts for the value)
#     "env:NAME"    read the environment variable NAME

# The encrypted vault (AES-256-GCM). Uncomment to use vault: references. The master key comes from
# the environment variable ML_CONNECTOR_MASTER_KEY, or from a key file only you can read (chmod 600;
# create one with `ml-connector secrets new-key /etc/ml-connector/master.key`). See docs/security.md.
# [vault]
# path = "ml-connector.vault"     # the vault file, next to this file; or backend = "ledger"
# master_key_file = "/etc/ml-connector/master.key"   # default: master_key_env = "ML_CONNECTOR_MASTER_KEY"

# Where ml-connector keeps its ledger of files and documents. Default: an SQLite file next to
# this configuration file. The environment variable ML_CONNECTOR_DATABASE_URL overrides it;
# put a PostgreSQL URL that contains a password there, never here.
# ledger_url = "sqlite:///ml-connector.db"
# ledger_url = "postgresql+psycopg://ml_connector@db.example.com/ml_connector"

[log]
level = "INFO"          # DEBUG, INFO, WARNING or ERROR
format = "console"      # "console" for people, "json" for log collectors
# file = "/var/log/ml-connector/ml-connector.log"   # default: standard error

# Reader profiles describe the file dialect Stampli sends (delimiter, decimal separator, date
# formats, ...). Built in: "canonical", "nordic", "us". Define your own like this and refer to
# it with profile = "acme-export" in a connection (keys: see docs/configuration.md):
# [profiles.acme-export]
# delimiter = ";"
# decimal_sep = ","
# date_formats = ["%d.%m.%Y"]

# One [connections.NAME] table per Stampli company -> Visma company pair. NAME appears in logs
# and in the ledger; use letters, digits, '-' and '_'.
[connections.acme]
enabled = true                  # false: keep the settings, but do not poll
stampli_company_id = "C100234"  # the Stampli company the export files belong to
poll_interval = 900             # seconds between polls; at least 300 unless allow_fast_poll = true
profile = "canonical"           # reader profile: canonical, nordic, us, or one of [profiles.*]

[connections.acme.sftp]
host = "sftp.example.com"
port = 22
username = "acme"
# Authentication: a password, a private key (from a secret), or a private key file.
password = "env:ACME_SFTP_PASSWORD"
# private_key = "env:ACME_SFTP_KEY"                 # the key text, e.g. an OpenSSH ed25519 key
# private_key_file = "/etc/ml-connector/acme_ed25519"  # relative paths: next to this file
# private_key_passphrase = "env:ACME_SFTP_KEY_PASSPHRASE"
# The server's host key, pinned. Required: ml-connector never connects to an unknown server.
# Get it with:  ssh-keyscan -t ed25519 sftp.example.com   (drop the host name in front)
# or give the fingerprint:  host_key = "SHA256:..."
# REPLACE THIS PLACEHOLDER: with it, every connection attempt is refused as a key mismatch.
host_key = "{placeholder}"
invoices_folder = "/outbound/invoices"   # Stampli writes invoice exports here
payments_folder = "/outbound/payments"   # Stampli writes payment exports here
vendors_folder = "/inbound/vendors"      # we write supplier files here
file_pattern = ["stampli_*.csv", "stampli_*.xml"]  # file names to pick up in both export folders
min_file_age = 120         # seconds; younger files may still be being written
# archive_folder = "/outbound/invoices/archive"   # move processed files here; default: leave them
connect_timeout = 30       # seconds

[connections.acme.visma]
api_url = "https://api.finance.visma.net"
token_url = "https://connect.visma.com/connect/token"
client_id = "isv_acme_connector"      # from the Visma Developer Portal
client_secret = "env:ACME_VISMA_CLIENT_SECRET"
# The COMPANY tenant id (Visma Admin -> Company -> Configuration), not the customer tenant id.
tenant_id = "00000000-0000-0000-0000-000000000000"
company_id = "1234567"                # the Visma company id, sent as ipp-company-id
# ca_bundle = "/etc/ssl/certs/corporate-ca.pem"   # only behind a TLS-inspecting proxy
timeout = 30                          # seconds per request
timezone = "Europe/Oslo"              # Visma's timestamps carry no offset: the company's zone

[connections.acme.mapping]
# Account credited with each invoice total: a clearing or AP account that allows manual entry
# in Visma (checked against Visma before the first posting).
credit_account = "2460"
# Which Stampli line field feeds the cost center, and where it goes in the SUBACCOUNT:
cost_center_field = "department"   # department, costCenter, location, class, project or custom_NAME
cost_center_segment_id = 1
cost_center_length = 4             # left-padded with "0": "200" -> "0200"
# project_segment_id = 2           # SUBACCOUNT segment for the Stampli project, with project_map
default_bank_account = "1920"      # cash account for payments whose bank account is not listed
# Accounting completeness (docs/accounting.md); each is off until set:
# discount_account = "7770"        # early-payment discounts taken (credited)
# exchange_gain_account = "8060"   # realised exchange gain on payments in a foreign currency
# exchange_loss_account = "8160"   # realised exchange loss
# rounding_account = "7790"        # a voucher's rounding difference, at most rounding_max
# rounding_max = "0.05"            # in the voucher's currency; a larger difference parks

[connections.acme.mapping.default_segments]
# Values for SUBACCOUNT segments the invoice does not fill (segment id = value).
1 = "0000"
2 = "00"

[connections.acme.mapping.tax_accounts]
# Stampli taxCode = input VAT account
"1" = "2710"
"11" = "2711"

[connections.acme.mapping.reverse_charge]
# Reverse-charge taxCode = [input VAT account, output VAT account, self-assessed VAT rate in %]
"86" = ["2720", "2740", "25"]

[connections.acme.mapping.bank_accounts]
# Stampli bankAccount = cash GL account
"DNB-1503.12.34567" = "1920"

[connections.acme.mapping.project_map]
# Stampli project = SUBACCOUNT segment value (needs project_segment_id)

[connections.acme.mapping.supplier_map]
# Stampli vendorId = Visma supplier number, only where they differ
# "V-10023" = "10023"

[connections.acme.posting]
target = "journal"               # or "supplier_invoice": Visma's supplier ledger (needs mapping.tax_codes)
release = true                   # release each journal transaction right after creating it
closed_period_policy = "park"    # "park": hold for a person; "next_open": post in the next open period
require_image = false            # true: an invoice waits for its image (images/ beside the export)
concurrency = 4                  # documents posted at once (1 = strictly sequential; at most 64)

[connections.acme.payments]
# Who pays the suppliers. "stampli": post Stampli's payment records. "visma": Visma pays (payment
# proposals, AutoPay): Stampli payment files are read, reported and skipped, never posted (else
# every payment would be booked twice).
source = "stampli"

[connections.acme.vendors]
# Visma's suppliers exported to Stampli as CSV files in sftp.vendors_folder (docs/vendors.md).
# Off until you turn it on: it WRITES files into the customer's Stampli SFTP folder, so agree on
# it with the customer first, then set enabled = true (`vendors export --dry-run` shows the file).
enabled = false
full_at = "02:00"          # the daily full file, at this local time in `timezone`
timezone = "Europe/Oslo"
delta = true               # plus a delta file whenever Visma reports supplier changes (checked every poll)
bom = false                # true: start the files with a UTF-8 BOM (for people who open them in Excel)

[connections.acme.masterdata]
# Visma's coding lists (GL accounts, cost centers, projects, VAT codes, credit terms) exported to
# Stampli as one CSV per list (docs/masterdata.md). Off by default.
enabled = false
folder = "/inbound/masterdata"
# projects need mapping.project_segment_id:
# lists = ["accounts", "cost_centers", "projects", "vat_codes", "credit_terms"]
full_at = "02:00"          # the daily full files, at this local time in `timezone`
timezone = "Europe/Oslo"
delta = true               # plus a delta file per list whenever a value changed (checked every poll)
"""


def render_template() -> str:
    """The template text. It loads cleanly once the variables in ``TEMPLATE_ENV_VARS`` are set."""
    return _TEMPLATE.replace("{placeholder}", PLACEHOLDER_HOST_KEY)
