"""Redaction of credential headers, URLs and free text."""

from __future__ import annotations

from ml_connector.redaction import MASK, redact, redact_headers, redact_url


def test_redact_headers_masks_authorization_keeps_the_rest() -> None:
    out = redact_headers(
        {"Authorization": "Bearer eyJhbGciOi.abc.def", "ipp-company-id": "123", "Cookie": "session=abc"}
    )
    assert out == {"Authorization": f"Bearer {MASK}", "ipp-company-id": "123", "Cookie": MASK}
    assert redact_headers([("proxy-authorization", "Basic dXNlcjpwYXNz")]) == {
        "proxy-authorization": f"Basic {MASK}"
    }


def test_redact_url_strips_user_info_and_secret_params() -> None:
    url = "https://user:pa55@connect.visma.com/connect/token?client_secret=abc&scope=read&access_token=t"
    out = redact_url(url)
    assert "pa55" not in out and "user" not in out and "abc" not in out and "=t" not in out
    assert "scope=read" in out
    assert out.startswith(f"https://{MASK}@connect.visma.com/connect/token?")
    assert redact_url("https://api.finance.visma.net/v1/account?active=true") == (
        "https://api.finance.visma.net/v1/account?active=true"
    )


def test_redact_text_masks_known_secrets_bearer_tokens_and_form_fields() -> None:
    text = (
        "token=Bearer eyJ0eXAi.payload.sig; body grant_type=client_credentials&client_secret=hunter22&x=1 "
        'json {"access_token": "abc123", "expires_in": 3600} and again MYSECRETVALUE'
    )
    out = redact(text, ["MYSECRETVALUE", None, ""])
    for leaked in ("eyJ0eXAi", "hunter22", "abc123", "MYSECRETVALUE"):
        assert leaked not in out
    assert "grant_type=client_credentials" in out and '"expires_in": 3600' in out
