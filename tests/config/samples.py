"""Shared inputs for the configuration tests."""

from __future__ import annotations

from ml_connector.config import PLACEHOLDER_HOST_KEY

ENV = {"ACME_SFTP_PASSWORD": "sftp-pw-Zq81", "ACME_VISMA_SECRET": "visma-secret-Kx93"}

# A small valid configuration; tests replace or append lines to break one thing at a time.
BASE = f"""\
[connections.acme]
stampli_company_id = "C100234"

[connections.acme.sftp]
host = "sftp.example.com"
username = "acme"
password = "env:ACME_SFTP_PASSWORD"
host_key = "{PLACEHOLDER_HOST_KEY}"

[connections.acme.visma]
client_id = "isv_acme"
client_secret = "env:ACME_VISMA_SECRET"
tenant_id = "af1140c1-52e0-46c7-b684-df894d4b8a5a"
company_id = "1234567"

[connections.acme.mapping]
credit_account = "2460"
"""
