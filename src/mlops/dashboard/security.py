"""Who may read the dashboard: loopback binds, access tokens, Host headers.

Standard library only, so the rules are unit-tested without a server. The
policy: on a loopback address the dashboard is open to local processes, and
the ``Host`` header must name the loopback (a web page elsewhere cannot use
DNS rebinding to read it). Any other bind needs a token, and then every
request must carry it (``?token=``, ``Authorization: Bearer``,
``X-MLOps-Token`` or the cookie set after a first good ``?token=``).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from mlops.errors import ConfigurationError

__all__ = [
    "COOKIE",
    "MIN_TOKEN_LENGTH",
    "check_bind",
    "host_allowed",
    "is_loopback",
    "presented_token",
    "token_matches",
]

COOKIE = "mlops_dashboard_token"
MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_TOKEN_HINT = (
    "pass --token (or set MLOPS_DASHBOARD_TOKEN); make one with "
    '`python -c "import secrets; print(secrets.token_urlsafe(24))"`'
)


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
        (True, False)
    """
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a bind that would expose the dashboard without a usable token.

    Raises:
        ConfigurationError: ``host`` is not loopback and no token is given, or
            a token is given but is shorter than :data:`MIN_TOKEN_LENGTH` or
            holds whitespace.
    """
    if token is not None and (len(token) < MIN_TOKEN_LENGTH or token != token.strip()):
        raise _bad(f"the dashboard token must be at least {MIN_TOKEN_LENGTH} characters, no spaces")
    if token is None and not is_loopback(host):
        raise _bad(
            f"binding the dashboard to {host} exposes it beyond this machine: a token is required"
        )


def _bad(message: str) -> ConfigurationError:
    return ConfigurationError(message, component="dashboard", operation="start", hint=_TOKEN_HINT)


def presented_token(
    query: Mapping[str, str], headers: Mapping[str, str], cookies: Mapping[str, str]
) -> str | None:
    """The token a request carries, looked for in query, headers, then the cookie.

    ``headers`` must be case-insensitive or lower-case keyed.
    """
    auth = headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    for value in (query.get("token"), bearer, headers.get("x-mlops-token"), cookies.get(COOKIE)):
        if value:
            return value
    return None


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak the token."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def host_allowed(host_header: str | None) -> bool:
    """True when a ``Host`` header names the loopback (any port)."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):  # [::1]:8765
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return is_loopback(host)
