"""Who may read the dashboard: loopback binds, tokens, Host headers (pure rules)."""

from __future__ import annotations

import pytest

from mlops.dashboard.security import (
    COOKIE,
    check_bind,
    host_allowed,
    is_loopback,
    presented_token,
    token_matches,
)
from mlops.errors import ConfigurationError

TOKEN = "a-long-enough-token-123"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_loopback_bind_needs_no_token(host: str) -> None:
    assert check_bind(host, None) is None  # accepted without a token (it raises to refuse)
    assert check_bind(host, TOKEN) is None  # a token may still be set on loopback...
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        check_bind(host, "short")  # ...and is then held to the same rules


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "my-laptop.local"])
def test_other_binds_need_a_token(host: str) -> None:
    with pytest.raises(ConfigurationError, match="a token is required") as info:
        check_bind(host, None)
    assert info.value.component == "dashboard"
    assert "MLOPS_DASHBOARD_TOKEN" in (info.value.hint or "")
    check_bind(host, TOKEN)


@pytest.mark.parametrize("token", ["short", " padded-token-with-space ", "x" * 15])
def test_weak_tokens_are_refused(token: str) -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        check_bind("0.0.0.0", token)


def test_token_is_found_in_query_header_bearer_and_cookie() -> None:
    assert presented_token({"token": "q"}, {}, {}) == "q"
    assert presented_token({}, {"authorization": "Bearer b"}, {}) == "b"
    assert presented_token({}, {"authorization": "bearer  b2 "}, {}) == "b2"
    assert presented_token({}, {"x-mlops-token": "h"}, {}) == "h"
    assert presented_token({}, {}, {COOKIE: "c"}) == "c"
    assert presented_token({}, {"authorization": "Basic abc"}, {}) is None
    assert presented_token({"token": ""}, {}, {}) is None
    # The query wins: a fresh link replaces an old cookie.
    assert presented_token({"token": "q"}, {}, {COOKIE: "c"}) == "q"


def test_token_matches_exactly() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)
    assert not token_matches(TOKEN.upper(), TOKEN)
    assert not token_matches("", TOKEN)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8765", True),
        ("localhost:8765", True),
        ("localhost", True),
        ("[::1]:8765", True),
        ("attacker.example:8765", False),
        ("attacker.example", False),
        ("127.0.0.1.attacker.example", False),
        ("", False),
        (None, False),
    ],
)
def test_host_header_must_name_the_loopback(header: str | None, allowed: bool) -> None:
    assert host_allowed(header) is allowed
