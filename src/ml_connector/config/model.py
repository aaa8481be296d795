"""The configuration as the rest of ml-connector sees it: frozen dataclasses, already validated.

Secrets appear only as ``SecretRef`` (where the secret lives). Resolve them when they are needed,
with ``ref.resolve(resolver)`` or ``resolve_secret(ref, environ)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from ml_connector.config.secrets import SecretRef
from ml_connector.hostkey import PinnedHostKey, parse_host_key
from ml_connector.redaction import redact_url

ClosedPeriodPolicy = Literal["park", "next_open"]
# Where an approved invoice is posted: a journal transaction (to ``mapping.credit_account``) or a
# supplier invoice in Visma's supplier ledger (AP module; README "Choosing the posting target").
PostingTargetName = Literal["journal", "supplier_invoice"]
POSTING_TARGETS: tuple[PostingTargetName, ...] = ("journal", "supplier_invoice")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]

BUILTIN_PROFILES = ("canonical", "nordic", "us")
DEFAULT_FILE_PATTERNS = ("stampli_*.csv", "stampli_*.xml")


@dataclass(frozen=True)
class SftpConfig:
    host: str
    username: str
    host_key: str  # pinned; see ml_connector.hostkey for the accepted forms
    port: int = 22
    password: SecretRef | None = None
    private_key: SecretRef | None = None  # the key text itself, from a secret
    private_key_file: Path | None = None  # or a key file (absolute; relative paths resolved at load)
    private_key_passphrase: SecretRef | None = None
    invoices_folder: str = "/outbound/invoices"
    payments_folder: str = "/outbound/payments"
    vendors_folder: str = "/inbound/vendors"
    file_pattern: tuple[str, ...] = DEFAULT_FILE_PATTERNS  # glob(s) on the file name
    min_file_age: int = 120  # seconds; younger files may still be being written
    archive_folder: str | None = None  # move processed files here (None: leave them)
    connect_timeout: float = 30.0

    @property
    def pinned_host_key(self) -> PinnedHostKey:
        return parse_host_key(self.host_key)


@dataclass(frozen=True)
class VismaConfig:
    api_url: str
    token_url: str
    client_id: str
    client_secret: SecretRef
    tenant_id: str
    company_id: str  # sent as the ipp-company-id header
    ca_bundle: Path | None = None
    timeout: float = 30.0
    timezone: str = "Europe/Oslo"  # Visma sends company-local times without an offset


@dataclass(frozen=True)
class MappingConfig:
    credit_account: str  # clearing or AP account that allows manual entry
    cost_center_field: str = "department"
    cost_center_segment_id: int = 1
    cost_center_length: int = 4  # left-padded with "0"
    default_segments: dict[int, str] = field(default_factory=dict)
    project_segment_id: int | None = None
    project_map: dict[str, str] = field(default_factory=dict)
    tax_accounts: dict[str, str] = field(default_factory=dict)
    reverse_charge: dict[str, tuple[str, str]] | None = None  # taxCode -> (input VAT, output VAT)
    # taxCode -> the self-assessed VAT rate in percent (25 for 25 %); the loader requires one per code.
    reverse_charge_rates: dict[str, Decimal] = field(default_factory=dict)
    bank_accounts: dict[str, str] = field(default_factory=dict)
    default_bank_account: str | None = None
    supplier_map: dict[str, str] = field(default_factory=dict)
    # Stampli tax code -> Visma VAT code id (``vatCodeId`` on a supplier-invoice line); used by the
    # supplier_invoice target, where Visma books the VAT itself from the code.
    tax_codes: dict[str, str] = field(default_factory=dict)
    discount_account: str | None = None  # early-payment discounts taken (credited)
    exchange_gain_account: str | None = None  # realised exchange gains on payments (credited)
    exchange_loss_account: str | None = None  # realised exchange losses on payments (debited)
    rounding_account: str | None = None  # a voucher's rounding difference, at most rounding_max
    rounding_max: Decimal = Decimal("0.05")  # in the voucher's currency; a larger difference parks
    currency_rate_type: str | None = None  # Visma's rate type for a day's rate (None: any type)

    @property
    def books_exchange_differences(self) -> bool:
        """Exchange differences are booked once an exchange gain or loss account is configured."""
        return self.exchange_gain_account is not None or self.exchange_loss_account is not None

    def accounting_accounts(self) -> set[str]:
        """The accounts the accounting rules post to (reverse charge, discount, exchange difference,
        rounding): named by the configuration, so a missing one is the configuration's to fix."""
        named: set[str] = set()
        for pair in (self.reverse_charge or {}).values():
            named.update(pair)
        optional = (
            self.discount_account,
            self.exchange_gain_account,
            self.exchange_loss_account,
            self.rounding_account,
        )
        named.update(a for a in optional if a)
        return named

    def cost_center_value(self, raw: str) -> str:
        """The SUBACCOUNT segment value for a Stampli cost-center value: stripped, left-padded with 0."""
        return raw.strip().rjust(self.cost_center_length, "0")


@dataclass(frozen=True)
class PostingConfig:
    release: bool = True
    closed_period_policy: ClosedPeriodPolicy = "park"
    target: PostingTargetName = "journal"
    # An invoice without its image (images/ beside the export) parks until the image appears;
    # off: it posts without one, with a warning on the document (pipeline/images.py).
    require_image: bool = False
    # Documents posted at once per connection: Visma's latency is hidden behind this many requests in
    # flight (each document's create, attach and release stay in order). 1 = strictly sequential.
    concurrency: int = 4


PaymentSource = Literal["stampli", "visma"]
PAYMENT_SOURCES: tuple[PaymentSource, ...] = ("stampli", "visma")


@dataclass(frozen=True)
class PaymentsConfig:
    """Who pays the suppliers (issue 16, docs/configuration.md). ``stampli``: Stampli pays and exports
    payment records, which are posted. ``visma``: Visma pays (payment proposals, AutoPay), so posting
    Stampli's payments would book every payment twice: their files are read, reported and skipped,
    and approved invoices are marked ready for payment instead."""

    source: PaymentSource = "stampli"


@dataclass(frozen=True)
class VendorsConfig:
    """The vendor master export to Stampli (docs/vendors.md); the folder is ``sftp.vendors_folder``."""

    enabled: bool = True
    full_at: str = "02:00"  # HH:MM, local time in ``timezone``: the daily full file
    timezone: str = "Europe/Oslo"
    delta: bool = True  # a delta file whenever Visma reports changes, checked at the poll interval
    bom: bool = False  # a UTF-8 BOM, e.g. when people open the files in Excel


MASTERDATA_LISTS = ("accounts", "cost_centers", "projects", "vat_codes", "credit_terms")


@dataclass(frozen=True)
class MasterdataConfig:
    """The coding-list export to Stampli (docs/masterdata.md): one CSV per list in ``folder``.
    Suppliers stay with ``[vendors]``."""

    enabled: bool = False
    folder: str = "/inbound/masterdata"
    lists: tuple[str, ...] = MASTERDATA_LISTS
    full_at: str = "02:00"  # HH:MM, local time in ``timezone``: the daily full files
    timezone: str = "Europe/Oslo"
    delta: bool = True  # a delta file per list whenever a value changed, checked at the poll interval
    bom: bool = False


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    stampli_company_id: str
    sftp: SftpConfig
    visma: VismaConfig
    mapping: MappingConfig
    posting: PostingConfig = field(default_factory=PostingConfig)
    payments: PaymentsConfig = field(default_factory=PaymentsConfig)
    enabled: bool = True
    poll_interval: int = 900  # seconds
    allow_fast_poll: bool = False
    profile: str = "canonical"
    # The [profiles.NAME] table as written (empty for a built-in profile). Convert it with
    # ml_connector.stampli.profile.ReaderProfile.from_mapping.
    profile_options: dict[str, Any] = field(default_factory=dict)
    vendors: VendorsConfig = field(default_factory=VendorsConfig)
    masterdata: MasterdataConfig = field(default_factory=MasterdataConfig)


VaultBackendName = Literal["file", "ledger"]


@dataclass(frozen=True)
class DashboardConfig:
    """The ``[dashboard]`` table. ``trusted_proxies``: addresses or networks whose X-Forwarded-For
    and X-Forwarded-Proto headers are believed; from anyone else they are ignored (default: none)."""

    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class VaultConfig:
    """The ``[vault]`` table: where encrypted secrets live and where the master key comes from."""

    backend: VaultBackendName = "file"
    path: Path | None = None  # the vault file (backend "file"); absolute
    master_key_env: str | None = "ML_CONNECTOR_MASTER_KEY"  # None when master_key_file is set
    master_key_file: Path | None = None
    ledger_url: str = field(
        default="", repr=False
    )  # backend "ledger": the ledger's URL (may hold a password)


@dataclass(frozen=True)
class LogConfig:
    level: LogLevel = "INFO"
    format: LogFormat = "console"
    file: Path | None = None


@dataclass(frozen=True)
class WebhooksConfig:
    """The ``[webhooks]`` table: receiving Visma's change notifications (docs/deployment.md)."""

    secret: SecretRef  # the subscription's signing key (HMAC-SHA256), e.g. vault:visma-webhook-key
    enabled: bool = False
    path: str = "/webhooks/visma"
    port: int | None = None  # None: on the dashboard's server; else a listener of its own
    host: str = "127.0.0.1"
    tls_cert: Path | None = None  # own listener only: HTTPS with this PEM certificate and key
    tls_key: Path | None = None
    signature_header: str = "X-Visma-Signature"  # Visma does not document the name: configurable
    max_age: int = 300  # seconds; a notification whose timestamp is older (or further ahead) is refused


@dataclass(frozen=True)
class AppConfig:
    path: Path
    ledger_url: str = field(repr=False)  # may hold a password when it comes from the environment
    ledger_url_source: str = "default"
    log: LogConfig = field(default_factory=LogConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    connections: tuple[ConnectionConfig, ...] = ()
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    vault: VaultConfig | None = None  # None: no [vault] table, vault: references cannot be resolved
    webhooks: WebhooksConfig | None = None  # None: no [webhooks] table (off)

    @property
    def ledger_url_redacted(self) -> str:
        """``postgresql://u:***@h/db``: the role name stays, it tells the operator which one is used."""
        return redact_url(self.ledger_url, keep_user=True)

    @property
    def enabled_connections(self) -> tuple[ConnectionConfig, ...]:
        return tuple(c for c in self.connections if c.enabled)

    def connection(self, name: str) -> ConnectionConfig:
        for c in self.connections:
            if c.name == name:
                return c
        raise KeyError(name)

    def __repr__(self) -> str:
        return (
            f"AppConfig(path={self.path!r}, ledger_url={self.ledger_url_redacted!r}, "
            f"ledger_url_source={self.ledger_url_source!r}, log={self.log!r}, "
            f"connections={self.connections!r}, profiles={self.profiles!r}, vault={self.vault!r}, "
            f"webhooks={self.webhooks!r})"
        )
