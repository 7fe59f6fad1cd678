"""``mlops server``: run a shared ``mlflow server`` from the central configuration.

The server runs as a background process in its own session; its PID, URL and
log path are recorded in ``<root>/.mlops/server/server.json`` and it is
stopped by that PID (after checking the PID still belongs to an MLflow
server), never by name. MLflow's job runner stays off unless
``server.enable_job_execution`` is set (it starts 7 extra processes).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.components import require
from mlops.config import Settings
from mlops.errors import ConnectionFailedError, InvalidInputError, OperationTimeoutError, redact
from mlops.workspace import make_dir

__all__ = ["ServerInfo", "server_status", "start_server", "stop_process_group", "stop_server"]


@dataclass(frozen=True)
class ServerInfo:
    """A running (or recorded) tracking server."""

    pid: int
    url: str
    backend_store_uri: str
    log_path: str
    running: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict with the backend URI redacted."""
        return {
            "pid": self.pid,
            "url": self.url,
            "running": self.running,
            "backend_store_uri": redact(self.backend_store_uri),
            "log": self.log_path,
        }


def _state_dir(settings: Settings) -> Path:
    return settings.server_dir


def _state_file(settings: Settings) -> Path:
    return _state_dir(settings) / "server.json"


def server_command(settings: Settings) -> tuple[list[str], dict[str, str], str]:
    """The argv, environment and backend URI of ``mlflow server`` for ``settings``."""
    srv = settings.server
    state = _state_dir(settings)
    backend = srv.backend_store_uri or f"sqlite:///{state / 'mlflow.db'}"
    artifacts = srv.artifacts_destination or str(state / "artifacts")
    if backend.startswith("postgresql"):
        require("postgres", "server start")
    argv = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        artifacts,
        "--host",
        srv.host,
        "--port",
        str(srv.port),
        "--workers",
        str(srv.workers),
    ]
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if srv.enable_job_execution else "false"
    if srv.auth:
        require("auth", "server start")
        argv += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(state / "basic_auth.ini")
        # The UI's CSRF key, the same in every worker; several servers behind one name
        # share one by setting it in their environment.
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(32))
    return argv, env, backend


def _auth_database(settings: Settings) -> str:
    return settings.server.auth_database_uri or f"sqlite:///{_state_dir(settings) / 'auth.db'}"


def _write_auth_config(settings: Settings) -> None:
    """MLflow's basic-auth configuration, without any password: the admin's comes from
    MLFLOW_AUTH_ADMIN_PASSWORD in the server's environment, on the first start only."""
    database = _auth_database(settings)
    if database.startswith("sqlite:///"):
        path = Path(database[len("sqlite:///") :])
        make_dir(path.parent)
        if not path.exists() and not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
            raise InvalidInputError(
                "the first start of a server with server.auth needs the admin's password",
                component="tracking",
                operation="server start",
                hint="export MLFLOW_AUTH_ADMIN_PASSWORD=<password> (and optionally "
                "MLFLOW_AUTH_ADMIN_USERNAME, default admin) for this start only",
            )
    lines = [
        "[mlflow]",
        "default_permission = READ",
        f"database_uri = {database}",
        f"admin_username = {os.environ.get('MLFLOW_AUTH_ADMIN_USERNAME') or 'admin'}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "",
    ]
    target = _state_dir(settings) / "basic_auth.ini"
    target.write_text("\n".join(lines))
    target.chmod(0o600)  # it may name a database URI with a password


def start_server(settings: Settings, extra_env: dict[str, str] | None = None) -> ServerInfo:
    """Start the server in the background and wait (bounded) until it answers.

    ``extra_env`` joins the server's environment (e.g. ``MLFLOW_S3_ENDPOINT_URL`` for
    artifacts on an S3-compatible store).
    """
    current = server_status(settings)
    if current is not None and current.running:
        raise InvalidInputError(
            f"a tracking server is already running at {current.url} (pid {current.pid})",
            component="tracking",
            operation="server start",
            hint="mlops server stop",
        )
    argv, env, backend = server_command(settings)
    env.update(extra_env or {})
    state = _state_dir(settings)
    make_dir(state)
    if backend.startswith("sqlite:///"):
        make_dir(Path(backend[len("sqlite:///") :]).parent)
    if settings.server.auth:
        _write_auth_config(settings)
    log_path = state / "server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    url = f"http://{_client_host(settings.server.host)}:{settings.server.port}"
    info = ServerInfo(proc.pid, url, backend, str(log_path), True)
    _state_file(settings).write_text(json.dumps(info.as_dict()))  # the URI redacted
    _wait_ready(proc, url, settings.server.start_timeout, log_path)
    return info


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float, log_path: Path) -> None:
    from mlops.tracking._http import check_server

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConnectionFailedError(
                f"mlflow server exited with code {proc.returncode} before answering: "
                + _tail(log_path),
                component="tracking",
                operation="server start",
                hint=f"read {log_path}; is port {url.rsplit(':', 1)[1]} already in use?",
            )
        try:
            check_server(url, 1.0)
            return
        except ConnectionFailedError:
            continue
    _terminate(proc.pid)
    raise OperationTimeoutError(
        f"mlflow server did not answer at {url} within {timeout:g} s: {_tail(log_path)}",
        component="tracking",
        operation="server start",
        hint="raise server.start_timeout",
    )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return redact(" | ".join(text[-lines:]))


def server_status(settings: Settings) -> ServerInfo | None:
    """The recorded server, with whether its PID still runs an MLflow server; None if none."""
    path = _state_file(settings)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    running = _is_mlflow_process(int(data["pid"]))
    return ServerInfo(
        int(data["pid"]), data["url"], data["backend_store_uri"], data["log"], running
    )


def _is_mlflow_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the recorded PID
    return b"mlflow" in cmdline and b"server" in cmdline


def stop_server(settings: Settings, timeout: float = 15.0) -> ServerInfo | None:
    """Stop the recorded server by its PID (its whole process group); None if none ran."""
    info = server_status(settings)
    if info is None:
        return None
    if info.running:
        _terminate(info.pid, timeout)
    _state_file(settings).unlink(missing_ok=True)
    return ServerInfo(info.pid, info.url, info.backend_store_uri, info.log_path, False)


def stop_process_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it after ``timeout`` seconds."""
    _terminate(pid, timeout)


def _terminate(pid: int, timeout: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and ") Z" in stat.read_text())
