"""open_app checks the whole configuration at load, reader profiles included."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.config import render_template
from ml_connector.errors import ConfigError
from ml_connector.service import open_app

ENV = {"ACME_SFTP_PASSWORD": "pw-x", "ACME_VISMA_CLIENT_SECRET": "secret-y"}


def test_bad_profile_table_is_reported_at_load_with_its_line(tmp_path: Path) -> None:
    text = render_template().replace('profile = "canonical"', 'profile = "acme"')
    text += '\n[profiles.acme]\ndelimiter = "|"\ndate_formats = ["%d/%m/%Y", "%m/%d/%Y"]\n'
    path = tmp_path / "ml-connector.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        open_app(path, environ=ENV)
    problems = exc.value.problems
    assert any("profiles.acme" in p and "delimiter" in p and "line" in p for p in problems), problems
    assert any("DD/MM" in p for p in problems), problems
    assert "secret-y" not in str(exc.value) and "pw-x" not in str(exc.value)
