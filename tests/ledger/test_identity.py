"""The ledger's identity record (issue 12.4) on SQLite and PostgreSQL: first use records, a change
or a rename is refused with what changed, ``accept`` records a deliberate change (audited)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector.config.model import ConnectionConfig, MappingConfig, SftpConfig, VismaConfig
from ml_connector.config.secrets import SecretRef
from ml_connector.domain.identity import Identity
from ml_connector.errors import LedgerIdentityError
from ml_connector.ledger.store import Ledger
from ml_connector.pipeline.identity import ensure_identity, identity_problem
from ml_connector.pipeline.runtime import Runtime


def _cfg(
    name: str = "acme", *, stampli: str = "C1", tenant: str = "t1", company: str = "1"
) -> ConnectionConfig:
    return ConnectionConfig(
        name=name,
        stampli_company_id=stampli,
        sftp=SftpConfig(host="h", username="u", host_key="ssh-ed25519 AAAA"),
        visma=VismaConfig(
            api_url="https://x",
            token_url="https://x/token",
            client_id="c",
            client_secret=SecretRef("env", "X"),
            tenant_id=tenant,
            company_id=company,
        ),
        mapping=MappingConfig(credit_account="2460"),
    )


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = Ledger.open(ledger_url)
    yield led
    led.close()


def _rt(ledger: Ledger, cfg: ConnectionConfig, *names: str) -> Runtime:
    return Runtime(config=cfg, ledger=ledger, archive_dir=Path("."), configured_names=frozenset(names))


def test_first_use_records_and_the_same_configuration_passes(ledger: Ledger) -> None:
    ensure_identity(_rt(ledger, _cfg(), "acme"))
    assert ledger.identities() == {"acme": Identity("C1", "t1", "1")}
    ensure_identity(_rt(ledger, _cfg(), "acme"))  # unchanged: fine, nothing new recorded
    trail = ledger.audit_trail("connection", "acme")
    assert [r.action for r in trail] == ["identity_recorded"]


def test_another_company_is_refused_naming_every_change(ledger: Ledger) -> None:
    ensure_identity(_rt(ledger, _cfg(), "acme"))
    with pytest.raises(LedgerIdentityError) as err:
        ensure_identity(_rt(ledger, _cfg(stampli="C2", company="2"), "acme"))
    text = str(err.value)
    assert "Stampli company was C1, the configuration now says C2 (stampli_company_id)" in text
    assert "Visma company was 1, the configuration now says 2 (visma.company_id)" in text
    assert "Visma tenant was" not in text  # only what changed is named
    assert "ml-connector ledger accept acme" in text
    assert ledger.identities()["acme"] == Identity("C1", "t1", "1")  # nothing overwritten


def test_a_rename_is_refused_two_configured_twins_are_not(ledger: Ledger) -> None:
    ensure_identity(_rt(ledger, _cfg("acme"), "acme"))
    with pytest.raises(LedgerIdentityError, match="'acme2' is new to this ledger, but 'acme' already posted"):
        ensure_identity(_rt(ledger, _cfg("acme2"), "acme2"))  # acme is gone from the configuration
    ensure_identity(_rt(ledger, _cfg("acme2"), "acme", "acme2"))  # both configured: not a rename
    assert set(ledger.identities()) == {"acme", "acme2"}


def test_accept_records_a_deliberate_change_with_an_audit_entry(ledger: Ledger) -> None:
    ensure_identity(_rt(ledger, _cfg(), "acme"))
    moved = _cfg(company="2")
    assert identity_problem(moved, ledger.identities(), {"acme"}) is not None
    before = ledger.accept_identity("acme", Identity("C1", "t1", "2"), actor="cli:test")
    assert before == Identity("C1", "t1", "1")
    ensure_identity(_rt(ledger, moved, "acme"))
    [accepted] = [r for r in ledger.audit_trail("connection", "acme") if r.action == "identity_accepted"]
    assert accepted.actor == "cli:test" and "was Stampli company C1" in str(accepted.reason)
