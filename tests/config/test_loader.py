from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from ml_connector.config import (
    DATABASE_URL_ENV,
    EnvResolver,
    SchemeResolver,
    SecretRef,
    load_config,
)
from ml_connector.errors import ConfigError, SecretError
from tests.config.samples import BASE, ENV

Write = Callable[[str], Path]


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV if environ is None else environ)
    return info.value.problems


def conn(extra: str) -> str:
    """BASE with ``extra`` lines added to the [connections.acme] table."""
    return BASE.replace('stampli_company_id = "C100234"', 'stampli_company_id = "C100234"\n' + extra)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_minimal_file_gets_the_documented_defaults(write: Write) -> None:
    path = write(BASE)
    cfg = load_config(path, environ=ENV)
    (conn,) = cfg.connections
    assert conn.name == "acme" and conn.enabled and conn.poll_interval == 900 and conn.profile == "canonical"
    assert conn.sftp.port == 22 and conn.sftp.min_file_age == 120 and conn.sftp.connect_timeout == 30
    assert conn.sftp.invoices_folder == "/outbound/invoices"
    assert conn.sftp.password == SecretRef("env", "ACME_SFTP_PASSWORD")
    assert conn.visma.api_url == "https://api.finance.visma.net"
    assert conn.visma.token_url == "https://connect.visma.com/connect/token"
    assert conn.mapping.credit_account == "2460" and conn.mapping.cost_center_field == "department"
    assert conn.mapping.cost_center_value("200") == "0200"
    assert conn.posting.release is True and conn.posting.closed_period_policy == "park"
    assert cfg.ledger_url == f"sqlite:///{path.parent.resolve()}/ml-connector.db"
    assert cfg.log.level == "INFO"


def test_every_problem_is_reported_at_once_with_key_and_line(write: Write) -> None:
    text = (
        BASE.replace('host = "sftp.example.com"', 'hots = "sftp.example.com"\nport = 70000')
        .replace('stampli_company_id = "C100234"', 'stampli_company_id = "C100234"\npoll_interval = 60')
        .replace('credit_account = "2460"', "credit_account = 2460")
        + '\n[connections.acme.posting]\nclosed_period_policy = "later"\n'
    )
    path = write(text)
    problems = problems_of(path)
    expected = {
        "connections.acme.sftp.hots": ("hots =", "unknown key"),
        "connections.acme.sftp.host ": ("[connections.acme.sftp]", "required key is missing"),
        "connections.acme.sftp.port": ("port =", "70000 is out of range"),
        "connections.acme.poll_interval": ("poll_interval =", "below the minimum of 300"),
        "connections.acme.mapping.credit_account": ("credit_account =", 'e.g. credit_account = "2460"'),
        "connections.acme.posting.closed_period_policy": ("closed_period_policy", "'later' is not one of"),
    }
    assert len(problems) == len(expected), problems
    for key, (line_start, message) in expected.items():
        line = line_of(text, line_start)
        want = f"{key.strip()} (ml-connector.toml line {line}): "
        assert any(p.startswith(want) and message in p for p in problems), (want, message, problems)


def test_typo_gets_a_suggestion(write: Write) -> None:
    problems = problems_of(write(BASE.replace("tenant_id", "tennant_id")))
    assert any("tennant_id" in p and "did you mean 'tenant_id'" in p for p in problems), problems


def test_missing_environment_variable_names_key_line_and_variable(write: Write) -> None:
    path = write(BASE)
    problems = problems_of(path, environ={"ACME_SFTP_PASSWORD": "x"})
    line = line_of(BASE, "client_secret")
    assert problems == [
        f"connections.acme.visma.client_secret (ml-connector.toml line {line}):"
        " environment variable ACME_VISMA_SECRET is not set"
    ]


def test_secret_written_in_the_file_is_refused_without_being_repeated(write: Write) -> None:
    literal = "hunter2-Secret-Value"
    path = write(
        BASE.replace('"env:ACME_VISMA_SECRET"', f'"{literal}"').replace("env:ACME_SFTP_PASSWORD", "a:b:c")
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    text = str(info.value) + repr(info.value)
    assert literal not in text and "a:b:c" not in text
    assert "connections.acme.visma.client_secret" in text and "secrets are never written in the file" in text
    assert "connections.acme.sftp.password" in text


def test_resolved_secret_values_never_appear_in_config_reprs_or_errors(write: Write) -> None:
    cfg = load_config(write(BASE), environ=ENV)
    shown = repr(cfg) + str(cfg)
    for value in ENV.values():
        assert value not in shown
    assert "env:ACME_VISMA_SECRET" in shown  # the reference is fine to show
    # an error elsewhere in the file still does not leak the values that did resolve
    problems = problems_of(write(BASE.replace('username = "acme"', "")))
    assert all(v not in p for p in problems for v in ENV.values())


def test_empty_environment_variable_is_an_error(write: Write) -> None:
    problems = problems_of(write(BASE), environ={**ENV, "ACME_VISMA_SECRET": "  "})
    assert len(problems) == 1 and "environment variable ACME_VISMA_SECRET is empty" in problems[0]


def test_disabled_connection_is_validated_but_its_secrets_are_not_resolved(write: Write) -> None:
    cfg = load_config(write(conn("enabled = false")), environ={})
    assert cfg.connections[0].enabled is False and cfg.enabled_connections == ()
    problems = problems_of(write(conn("enabled = false\nport = 1")), environ={})
    assert len(problems) == 1 and "connections.acme.port" in problems[0] and "unknown key" in problems[0]


def test_vault_references_use_a_pluggable_resolver(write: Write) -> None:
    path = write(BASE.replace("env:ACME_VISMA_SECRET", "vault:acme/visma"))
    problems = problems_of(path)
    assert len(problems) == 1 and "no resolver for vault: references" in problems[0]

    class FakeVault:
        def resolve(self, ref: SecretRef) -> str:
            if ref.name != "acme/visma":
                raise SecretError(f"{ref} is not in the vault")
            return "from-vault"

    resolver = SchemeResolver({"env": EnvResolver(ENV), "vault": FakeVault()})
    cfg = load_config(path, environ=ENV, resolver=resolver)
    ref = cfg.connections[0].visma.client_secret
    assert ref == SecretRef("vault", "acme/visma") and ref.resolve(resolver) == "from-vault"


def test_full_mapping_and_posting_options(write: Write) -> None:
    text = (
        BASE
        + """\
cost_center_field = "costCenter"
cost_center_segment_id = 1
cost_center_length = 4
project_segment_id = 2
default_bank_account = "1920"

[connections.acme.mapping.default_segments]
1 = "0000"
2 = "00"

[connections.acme.mapping.project_map]
"P-2025-014" = "14"

[connections.acme.mapping.tax_accounts]
"1" = "2710"

[connections.acme.mapping.reverse_charge]
"86" = ["2712", "2702", "25"]
"87" = { input = "2713", output = "2703", rate = 15 }

[connections.acme.mapping.bank_accounts]
"DNB-1503.12.34567" = "1921"

[connections.acme.mapping.supplier_map]
"V-10023" = "10023"

[connections.acme.posting]
release = false
closed_period_policy = "next_open"
"""
    )
    m = load_config(write(text), environ=ENV).connections[0].mapping
    assert m.cost_center_field == "costCenter" and m.project_segment_id == 2
    assert m.default_segments == {1: "0000", 2: "00"}
    assert m.project_map == {"P-2025-014": "14"} and m.tax_accounts == {"1": "2710"}
    assert m.reverse_charge == {"86": ("2712", "2702"), "87": ("2713", "2703")}
    assert m.reverse_charge_rates == {"86": Decimal("25"), "87": Decimal("15")}
    assert m.bank_accounts == {"DNB-1503.12.34567": "1921"} and m.default_bank_account == "1920"
    assert m.supplier_map == {"V-10023": "10023"}
    p = load_config(write(text), environ=ENV).connections[0].posting
    assert p.release is False and p.closed_period_policy == "next_open"


def test_mapping_consistency_checks(write: Write) -> None:
    text = (
        BASE
        + """\
cost_center_field = "dept"
project_segment_id = 1

[connections.acme.mapping.default_segments]
1 = "000"
x = "00"

[connections.acme.mapping.tax_accounts]
"86" = ""

[connections.acme.mapping.reverse_charge]
"86" = ["2712"]
"""
    )
    problems = "\n".join(problems_of(write(text)))
    assert "'dept' is not a Stampli line field" in problems
    assert "project_segment_id" in problems and "must differ from cost_center_segment_id" in problems
    assert "default_segments.1" in problems and "cost_center_length is 4" in problems
    assert "default_segments.x" in problems and "segment ids are positive integers" in problems
    assert "tax_accounts.86" in problems and "must not be empty" in problems
    assert "reverse_charge.86" in problems and "must name two accounts" in problems


def test_project_map_needs_a_segment(write: Write) -> None:
    text = BASE + '\n[connections.acme.mapping.project_map]\n"P1" = "01"\n'
    problems = problems_of(write(text))
    assert len(problems) == 1 and "needs project_segment_id" in problems[0]


def test_sftp_authentication_rules(write: Write) -> None:
    no_auth = problems_of(write(BASE.replace('password = "env:ACME_SFTP_PASSWORD"\n', "")))
    assert len(no_auth) == 1 and "no authentication configured" in no_auth[0]
    both = BASE.replace(
        'password = "env:ACME_SFTP_PASSWORD"',
        'private_key = "env:ACME_SFTP_PASSWORD"\nprivate_key_file = "missing_key"',
    )
    problems = "\n".join(problems_of(write(both)))
    assert "not both" in problems and "file not found:" in problems
    lone = problems_of(
        write(BASE.replace("host_key", 'private_key_passphrase = "env:X"\nhost_key')), {**ENV, "X": "p"}
    )
    assert len(lone) == 1 and "a passphrase needs private_key or private_key_file" in lone[0]


def test_private_key_file_is_relative_to_the_configuration(write: Write, tmp_path: Path) -> None:
    (tmp_path / "acme_ed25519").write_text("key")
    text = BASE.replace('password = "env:ACME_SFTP_PASSWORD"', 'private_key_file = "acme_ed25519"')
    cfg = load_config(write(text), environ=ENV)
    assert cfg.connections[0].sftp.private_key_file == tmp_path / "acme_ed25519"


def test_host_key_is_required_and_must_be_recognizable(write: Write) -> None:
    missing = problems_of(write("\n".join(x for x in BASE.splitlines() if not x.startswith("host_key"))))
    assert len(missing) == 1 and "host keys are never skipped" in missing[0]
    for bad in ("skip", "ssh-ed25519 not*base64", "*"):
        problems = problems_of(write(BASE.replace(BASE.split('host_key = "')[1].split('"')[0], bad)))
        assert len(problems) == 1 and "connections.acme.sftp.host_key" in problems[0], (bad, problems)


def test_poll_interval_bounds_and_fast_poll(write: Write) -> None:
    fast = BASE.replace(
        'stampli_company_id = "C100234"',
        'stampli_company_id = "C1"\npoll_interval = 10\nallow_fast_poll = true',
    )
    assert load_config(write(fast), environ=ENV).connections[0].poll_interval == 10
    for value, message in (("2", "out of range"), ("100000", "out of range"), ("true", "must be an integer")):
        text = BASE.replace(
            'stampli_company_id = "C100234"', f'stampli_company_id = "C1"\npoll_interval = {value}'
        )
        problems = problems_of(write(text))
        assert len(problems) == 1 and message in problems[0], problems


def test_urls_must_be_https_except_loopback(write: Write) -> None:
    local = BASE.replace(
        'client_id = "isv_acme"', 'client_id = "isv_acme"\napi_url = "http://127.0.0.1:8080/"'
    )
    assert load_config(write(local), environ=ENV).connections[0].visma.api_url == "http://127.0.0.1:8080"
    remote = BASE.replace(
        'client_id = "isv_acme"', 'client_id = "x"\ntoken_url = "http://connect.visma.com/t"'
    )
    problems = problems_of(write(remote))
    assert len(problems) == 1 and "must use https" in problems[0]
    creds = BASE.replace('client_id = "isv_acme"', 'client_id = "x"\napi_url = "https://u:url-Pw-4@api.x"')
    problems = problems_of(write(creds))
    assert (
        len(problems) == 1 and "must not contain a password" in problems[0] and "url-Pw-4" not in problems[0]
    )


def test_company_id_may_be_an_integer(write: Write) -> None:
    cfg = load_config(write(BASE.replace('company_id = "1234567"', "company_id = 1234567")), environ=ENV)
    assert cfg.connections[0].visma.company_id == "1234567"


def test_profiles_builtin_custom_and_unknown(write: Write) -> None:
    custom = '[profiles.acme-export]\ndelimiter = ";"\ndate_formats = ["dd.MM.yyyy"]\n\n' + BASE.replace(
        'stampli_company_id = "C100234"', 'stampli_company_id = "C1"\nprofile = "acme-export"'
    )
    cfg = load_config(write(custom), environ=ENV)
    assert cfg.connections[0].profile == "acme-export"
    assert cfg.connections[0].profile_options == {"delimiter": ";", "date_formats": ["dd.MM.yyyy"]}
    assert set(cfg.profiles) == {"acme-export"}
    nordic = BASE.replace('stampli_company_id = "C100234"', 'stampli_company_id = "C1"\nprofile = "nordic"')
    assert load_config(write(nordic), environ=ENV).connections[0].profile_options == {}
    unknown = problems_of(write(nordic.replace('"nordic"', '"acme"')))
    assert len(unknown) == 1 and "unknown profile 'acme'" in unknown[0]
    shadow = problems_of(write('[profiles.us]\ndelimiter = ","\n\n' + BASE))
    assert len(shadow) == 1 and "'us' is a built-in profile" in shadow[0]


def test_connection_names_duplicate_and_invalid(write: Write) -> None:
    second = BASE.replace("connections.acme", "connections.ACME")
    problems = "\n".join(problems_of(write(BASE + "\n" + second)))
    assert "duplicate connection name (same as 'acme', ignoring case)" in problems
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(write(BASE + "\n" + BASE), environ=ENV)
    assert "line" in info.value.problems[0]
    bad = problems_of(write(BASE.replace("connections.acme", 'connections."acme corp"')))
    assert any("connection names use letters" in p for p in bad)


def test_no_connections_is_an_error(write: Write) -> None:
    assert any("required key is missing" in p for p in problems_of(write('ledger_url = "sqlite://"\n')))
    assert any("no connections are defined" in p for p in problems_of(write("[connections]\n")))


def test_ledger_url_file_environment_and_redaction(write: Write, tmp_path: Path) -> None:
    cfg = load_config(write('ledger_url = "sqlite:///state/ledger.db"\n' + BASE), environ=ENV)
    assert cfg.ledger_url == f"sqlite:///{tmp_path.resolve()}/state/ledger.db"
    assert "ml-connector.toml line 1" in cfg.ledger_url_source
    env = {**ENV, DATABASE_URL_ENV: "postgresql+psycopg://conn:pg-Pass-771@db/ledger"}
    cfg = load_config(write(BASE), environ=env)
    assert (
        cfg.ledger_url == env[DATABASE_URL_ENV] and cfg.ledger_url_source == f"environment {DATABASE_URL_ENV}"
    )
    assert "pg-Pass-771" not in repr(cfg) and "conn:***@db" in repr(cfg)
    in_file = problems_of(write('ledger_url = "postgresql://u:file-Pass-55@db/x"\n' + BASE))
    assert len(in_file) == 1 and "contains a password" in in_file[0] and "file-Pass-55" not in in_file[0]
    wrong = problems_of(write(BASE), {**ENV, DATABASE_URL_ENV: "mysql://u:envpw@h/db"})
    assert wrong == [
        f"{DATABASE_URL_ENV} (environment): must be a sqlite:///PATH or postgresql+psycopg:// URL"
    ]


def test_log_settings(write: Write, tmp_path: Path) -> None:
    cfg = load_config(
        write('[log]\nlevel = "DEBUG"\nformat = "json"\nfile = "logs/c.log"\n\n' + BASE), environ=ENV
    )
    assert (cfg.log.level, cfg.log.format, cfg.log.file) == ("DEBUG", "json", tmp_path / "logs" / "c.log")
    problems = problems_of(write('[log]\nlevel = "LOUD"\n\n' + BASE))
    assert problems == [
        "log.level (ml-connector.toml line 2): 'LOUD' is not one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"
    ]


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file not found: .*ml-connector init"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('x = "bl\xe5"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_config_error_exit_code_and_listing(write: Write) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(BASE.replace('username = "acme"', "")), environ={})
    err = info.value
    assert err.exit_code == 2 and len(err.problems) == 3
    assert str(err).splitlines()[0].endswith("ml-connector.toml: 3 configuration problems")
    assert all(f"  - {p}" in str(err) for p in err.problems)


def test_profile_validator_problems_are_reported_with_the_rest(write: Write) -> None:
    def validator(name: str, table: Mapping[str, object]) -> list[str]:
        return [f"unknown profile key {k!r}" for k in table if k != "delimiter"]

    text = '[profiles.acme-export]\ndelimiter = ";"\ndecimal = ","\n\n' + conn('profile = "acme-export"')
    with pytest.raises(ConfigError) as info:
        load_config(write(text), environ={}, profile_validator=validator)
    problems = info.value.problems
    assert "profiles.acme-export (ml-connector.toml line 1): unknown profile key 'decimal'" in problems
    assert len(problems) == 3  # plus the two unset environment variables


def test_documented_profile_example_is_accepted_by_the_reader(write: Write) -> None:
    from ml_connector.stampli.profile import ReaderProfile

    def validator(name: str, table: Mapping[str, object]) -> list[str]:
        try:
            ReaderProfile.from_mapping(table, name=name)
        except ValueError as exc:
            return [str(p) for p in exc.args[0]]
        return []

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    example = docs.split("```toml\n[profiles.acme-export]\n", 1)[1].split("```", 1)[0]
    text = "[profiles.acme-export]\n" + example + "\n" + conn('profile = "acme-export"')
    cfg = load_config(write(text), environ=ENV, profile_validator=validator)
    assert cfg.connections[0].profile_options["decimal_sep"] == ","
    broken = text.replace('decimal_sep = ","', 'decimal_sep = "x"')
    with pytest.raises(ConfigError, match="decimal_sep"):
        load_config(write(broken), environ=ENV, profile_validator=validator)


def test_accounting_keys_are_read_exactly_and_checked(write: Write) -> None:
    text = (
        BASE
        + """\
discount_account = "3090"
exchange_gain_account = "8060"
exchange_loss_account = "8160"
rounding_account = "7790"
rounding_max = "0.10"
"""
    )
    m = load_config(write(text), environ=ENV).connections[0].mapping
    assert (m.discount_account, m.exchange_gain_account, m.exchange_loss_account) == ("3090", "8060", "8160")
    assert m.rounding_account == "7790" and m.rounding_max == Decimal("0.10")
    assert m.accounting_accounts() == {"3090", "8060", "8160", "7790"}
    defaults = load_config(write(BASE), environ=ENV).connections[0].mapping
    assert defaults.rounding_account is None and defaults.rounding_max == Decimal("0.05")
    bad = (
        BASE
        + """\
discount_account = 3090
rounding_max = 0.1
[connections.acme.mapping.reverse_charge]
"86" = { input = "2720", output = "2740" }
"87" = ["2720", "2740", "1,5"]
"88" = ["2720", "2740", "250"]
"""
    )
    problems = "\n".join(problems_of(write(bad)))
    assert 'write account numbers as strings, e.g. discount_account = "3090"' in problems
    assert "rounding_max" in problems and "not a float" in problems  # never read through a float
    assert "reverse_charge.86.rate" in problems and "required: the self-assessed VAT rate" in problems
    assert "reverse_charge.87.rate" in problems and "decimal number written as a string" in problems
    assert "reverse_charge.88.rate" in problems and "250 is out of range" in problems
