"""Every public error of ml-connector, ordered by what the caller should do about it.

    ConnectorError                       exit code 1 unless a subclass says otherwise
    ├── ConfigError                      fix the configuration (exit 2)
    │   ├── NothingEnabledError          no connection is enabled (exit 6)
    │   └── LedgerIdentityError          the ledger's history belongs to another company or name
    ├── SecretError                      a secret is missing, unreadable or tampered with (exit 2)
    ├── SourceError                      the Stampli side (SFTP)
    │   ├── TransientSourceError         timeouts, dropped connections: back off and retry
    │   └── FatalSourceError             auth refused, folder missing: stop this connection
    │       └── HostKeyMismatchError     the server's key is not the pinned one: never connect
    ├── DestinationError                 the Visma side (REST API)
    │   ├── RetriableDestinationError    429, 5xx on reads, timeouts before sending: retry later
    │   ├── AmbiguousDestinationError    a create whose outcome is unknown: look it up, never resend
    │   ├── RejectedByDestinationError   400/404/409/412: park the document with Visma's message
    │   └── FatalDestinationError        401/403 after a token renewal, invalid_client/tenant
    └── LedgerError                      our own database failed

Every exit code is listed in ``exitcodes.py``. A DestinationError also says who must fix it
(``fix_by``, a ``domain.problems.Category``) and what Visma's message names (``subject``); for a
Visma response only ``adapters/visma/classify.py`` decides both.

Library exceptions (asyncssh, OSError, httpx2, sqlite3, psycopg) are translated at the adapter
edge into these; pipeline code never imports those libraries.
"""

from __future__ import annotations

from typing import ClassVar

from ml_connector import exitcodes
from ml_connector.domain.problems import Category


class ConnectorError(Exception):
    exit_code = exitcodes.FAILED

    def __init__(self, message: str, *, context: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = dict(context or {})

    def __str__(self) -> str:
        return self.message


class ConfigError(ConnectorError):
    exit_code = exitcodes.CONFIG

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        full = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full)


class NothingEnabledError(ConfigError):
    exit_code = exitcodes.NOTHING_ENABLED


class LedgerIdentityError(ConfigError):
    """The configuration points a connection at another company than its ledger history, or
    gives a known history a new name; ``ml-connector ledger accept`` records a deliberate change."""


class SecretError(ConnectorError):
    exit_code = exitcodes.CONFIG


class SourceError(ConnectorError):
    pass


class TransientSourceError(SourceError):
    pass


class FatalSourceError(SourceError):
    pass


class NoSuchRemotePathError(FatalSourceError):
    """The remote file or folder does not exist (an optional folder, such as images/, may not)."""


class ConnectionRefusedSourceError(TransientSourceError):
    """Nothing accepts connections at the SFTP host and port (a wrong port, or the server is down)."""


class HostKeyMismatchError(FatalSourceError):
    pass


class DestinationError(ConnectorError):
    # Who fixes it when nothing more is known: retried by itself unless a subclass says otherwise.
    default_fix_by: ClassVar[str] = Category.CONNECTIVITY

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        visma_message: str | None = None,
        context: dict[str, object] | None = None,
        fix_by: str | None = None,
        subject: str | None = None,
    ) -> None:
        super().__init__(message, context=context)
        self.status = status
        self.visma_message = visma_message
        self.fix_by = fix_by or self.default_fix_by  # a Category
        self.subject = subject  # the kind of record Visma's message names ("account", ...), if any


class RetriableDestinationError(DestinationError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AmbiguousDestinationError(DestinationError):
    pass


class RejectedByDestinationError(DestinationError):
    # Our document as sent, unless Visma's message names master data (classify.who_fixes).
    default_fix_by: ClassVar[str] = Category.SOURCE_DATA


class FatalDestinationError(DestinationError):
    # Credentials, company, TLS trust or a request wrong for every document: the configuration.
    default_fix_by: ClassVar[str] = Category.MAPPING


class LedgerError(ConnectorError):
    pass
