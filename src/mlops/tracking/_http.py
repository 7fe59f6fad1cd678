"""The tracking server over plain HTTP: reachability and credentials (standard library only).

A tracking URI may carry credentials (``http://alice:pw@host:5000``: requests,
under MLflow, sends them as basic auth), or MLflow reads them from
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (or a bearer
``MLFLOW_TRACKING_TOKEN``). Our own requests send the same header; every
message redacts the password.
"""

from __future__ import annotations

import base64
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from mlops.errors import AuthenticationError, ConnectionFailedError, redact
from mlops.invocation import mlops_command

__all__ = ["auth_header", "check_server", "probe_server", "reach_server", "split_credentials"]


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without userinfo, user, password)``; user and password None when absent."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = urllib.parse.urlunsplit(parts._replace(netloc=hostport))
    return bare, urllib.parse.unquote(user) or None, urllib.parse.unquote(password) or None


def auth_header(uri: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``Authorization`` header MLflow would send to ``uri``.

    Credentials in the URI win (requests, under MLflow, sends them as basic auth);
    else MLflow's environment variables: a bearer token, or user and password.
    """
    env = os.environ if environ is None else environ
    _, user, password = split_credentials(uri)
    token = env.get("MLFLOW_TRACKING_TOKEN")
    if user is None and token:
        return {"Authorization": f"Bearer {token}"}
    if user is None:
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
    if user and password is not None:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def reach_server(uri: str, timeout: float) -> str | None:
    """Open and close one TCP connection to the server (or to the proxy urllib would use).

    None when it connected; else why not. Name resolution is not bounded by ``timeout``
    (the caller runs this in a bounded worker thread).
    """
    parts = urllib.parse.urlsplit(split_credentials(uri)[0])
    host, port = _address(parts)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        host, port = _address(urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}"))
    try:
        socket.create_connection((host, port), timeout=max(0.05, timeout)).close()
    except TimeoutError:
        return f"no connection within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({type(exc).__name__}: {exc})"
    return None


def _address(parts: urllib.parse.SplitResult) -> tuple[str, int]:
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def probe_server(uri: str, timeout: float) -> str | None:
    """One ``GET /health`` within ``timeout`` s: None when it answers 200, else why not."""
    bare, _, _ = split_credentials(uri)
    request = urllib.request.Request(bare.rstrip("/") + "/health", headers=auth_header(uri))
    try:
        with urllib.request.urlopen(request, timeout=max(0.05, timeout)) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def check_server(uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds unless an MLflow server answers at ``uri``.

    Raises:
        ConnectionFailedError: nothing answered, or it answered with an HTTP error.
    """
    deadline = time.monotonic() + timeout
    problem: str | None = "not tried"
    while time.monotonic() < deadline:
        problem = probe_server(uri, deadline - time.monotonic())
        if problem is None:
            return
        if problem.startswith("HTTP 401") or problem.startswith("HTTP 403"):
            raise AuthenticationError(
                f"the tracking server at {redact(uri)} refused the credentials ({problem})",
                component="tracking",
                operation="connect",
                hint="check the user and password in the tracking URI, or "
                "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / MLFLOW_TRACKING_TOKEN",
            )
        if problem.startswith("HTTP"):
            break  # it answered, but not as an MLflow server
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise ConnectionFailedError(
        f"no MLflow tracking server answered at {redact(uri)} within {timeout:g} s ({problem})",
        component="tracking",
        operation="connect",
        hint=f"start it (`{mlops_command('server', 'start')}`), fix MLOPS_TRACKING_URI, "
        "or raise tracking.timeout",
    )
