"""ml-connector configuration: one TOML file, validated all at once, secrets only by reference.

    config = load_config(Path("ml-connector.toml"))
    for conn in config.enabled_connections:
        secret = resolve_secret(conn.visma.client_secret, os.environ)

See docs/configuration.md for every key.
"""

from __future__ import annotations

from ml_connector.config.loader import (
    DATABASE_URL_ENV,
    MASTER_KEY_ENV,
    config_resolver,
    load_config,
    load_vault_config,
)
from ml_connector.config.model import (
    BUILTIN_PROFILES,
    AppConfig,
    ClosedPeriodPolicy,
    ConnectionConfig,
    LogConfig,
    MappingConfig,
    PostingConfig,
    SftpConfig,
    VaultConfig,
    VismaConfig,
)
from ml_connector.config.secrets import (
    EnvResolver,
    SchemeResolver,
    SecretRef,
    SecretRefSyntaxError,
    SecretResolver,
    default_resolver,
    resolve_secret,
)
from ml_connector.config.template import TEMPLATE_ENV_VARS, render_template
from ml_connector.hostkey import (
    PLACEHOLDER_HOST_KEY,
    HostKeyFormatError,
    PinnedHostKey,
    parse_host_key,
)

__all__ = [
    "BUILTIN_PROFILES",
    "DATABASE_URL_ENV",
    "MASTER_KEY_ENV",
    "PLACEHOLDER_HOST_KEY",
    "TEMPLATE_ENV_VARS",
    "AppConfig",
    "ClosedPeriodPolicy",
    "ConnectionConfig",
    "EnvResolver",
    "HostKeyFormatError",
    "LogConfig",
    "MappingConfig",
    "PinnedHostKey",
    "PostingConfig",
    "SchemeResolver",
    "SecretRef",
    "SecretRefSyntaxError",
    "SecretResolver",
    "SftpConfig",
    "VaultConfig",
    "VismaConfig",
    "config_resolver",
    "default_resolver",
    "load_config",
    "load_vault_config",
    "parse_host_key",
    "render_template",
    "resolve_secret",
]
