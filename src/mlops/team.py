"""``mlops team up`` / ``down``: a team's shared services on this machine, to try team mode.

``up`` starts, each on 127.0.0.1 and a free port (or ``--host``):

- an S3-compatible endpoint (``moto_server``) with the bucket ``mlops-team``;
- the MLflow tracking server (``mlops server``; PostgreSQL with ``--backend-store-uri``,
  else sqlite), its artifacts in ``s3://mlops-team/artifacts`` through that endpoint;
- an Evidently UI service on ``.mlops/team/evidently``;

and writes ``.mlops/team/team.toml``, the configuration that points a project at them:
tracking, the DVC remote and the Bento registry on the bucket, monitoring on the service.
``export MLOPS_CONFIG=<that file>`` (and the S3 credentials it prints) makes every
project of the repository use them. PIDs are recorded in ``.mlops/team/team.json``;
``down`` stops each by its process group, after checking that the PID still runs what
was started, never by name; ``up`` over a recorded set that only partly runs stops what
is left of it first.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops.config import Settings, load_settings
from mlops.errors import ConnectionFailedError, InvalidInputError, OperationTimeoutError
from mlops.workspace import make_dir

__all__ = ["BUCKET", "S3_CREDENTIALS", "team_down", "team_status", "team_up"]

BUCKET = "mlops-team"
# moto accepts any key; real S3 / MinIO take the team's own from the environment.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "mlops-team", "AWS_SECRET_ACCESS_KEY": "mlops-team"}
_MARKERS = {"s3": b"moto", "monitoring": b"evidently"}


def _folder(settings: Settings) -> Path:
    return settings.mlops_dir / "team"


def team_up(
    settings: Settings, backend_store_uri: str | None = None, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """Start the services, write ``team.toml``; what runs where, and the file."""
    from mlops.components import require

    folder = make_dir(_folder(settings))
    recorded = team_status(settings)
    if recorded["running"]:
        raise InvalidInputError(
            f"the team's services already run (see {folder / 'team.json'})",
            component="team",
            operation="team up",
            hint="mlops team down",
        )
    if recorded["services"]:  # a half-dead set: stop what still runs, or it is orphaned
        team_down(settings)
    require("moto", "team up")
    services: dict[str, Any] = {}
    try:
        env = {**os.environ, **S3_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}
        s3_port = _free_port(host)
        services["s3"] = _spawn(
            [str(Path(sys.executable).with_name("moto_server")), "-H", host, "-p", str(s3_port)],
            folder / "s3.log",
            env,
        )
        s3 = f"http://{host}:{s3_port}"
        _wait_port(host, s3_port, 60, folder / "s3.log")
        _make_bucket(s3, env)
        services["s3"]["url"] = s3

        ev_port = _free_port(host)
        evidently = [sys.executable, "-m", "evidently.cli", "ui"]
        evidently += ["--workspace", str(folder / "evidently"), "--host", host]
        services["monitoring"] = _spawn(
            [*evidently, "--port", str(ev_port)],
            folder / "evidently.log",
            {**env, "DO_NOT_TRACK": "1"},
        )
        _wait_port(host, ev_port, 90, folder / "evidently.log")
        services["monitoring"]["url"] = f"http://{host}:{ev_port}"

        services["tracking"] = _start_tracking(settings, backend_store_uri, host, s3, env)
    except BaseException:
        _record(folder, services)
        team_down(settings)
        raise
    _record(folder, services)
    config = _write_config(folder, services)
    return {"services": services, "config": str(config), "credentials": S3_CREDENTIALS}


def _start_tracking(
    settings: Settings, backend: str | None, host: str, s3: str, env: dict[str, str]
) -> dict[str, Any]:
    from mlops.tracking.server import start_server

    server = load_settings(
        settings.project,
        repo_root=settings.root,
        overrides={
            "server": {
                "backend_store_uri": backend,
                "artifacts_destination": f"s3://{BUCKET}/artifacts",
                "host": host,
                "port": _free_port(host),
                "workers": 2,
            }
        },
    )
    extra = {k: env[k] for k in (*S3_CREDENTIALS, "AWS_DEFAULT_REGION")}
    info = start_server(server, {**extra, "MLFLOW_S3_ENDPOINT_URL": s3})
    backend_shown = info.as_dict()["backend_store_uri"]  # redacted
    return {"pid": info.pid, "url": info.url, "log": info.log_path, "backend": backend_shown}


def team_down(settings: Settings) -> list[str]:
    """Stop every recorded service by its process group; the names of those stopped."""
    from mlops.tracking.server import stop_server

    state = _folder(settings) / "team.json"
    recorded = _read(state)
    stopped = []
    for name, service in recorded.items():
        if name == "tracking":
            server = load_settings(settings.project, repo_root=settings.root)
            if stop_server(server) is not None:
                stopped.append(name)
        elif _is_ours(int(service["pid"]), _MARKERS.get(name, b"")):
            _stop_group(int(service["pid"]))
            stopped.append(name)
    state.unlink(missing_ok=True)
    return stopped


def team_status(settings: Settings) -> dict[str, Any]:
    """The recorded services and whether each still runs (``running``: all of them)."""
    recorded = _read(_folder(settings) / "team.json")
    for name, service in recorded.items():
        marker = b"mlflow" if name == "tracking" else _MARKERS.get(name, b"")
        service["running"] = _is_ours(int(service["pid"]), marker)
    running = bool(recorded) and all(s["running"] for s in recorded.values())
    return {"services": recorded, "running": running}


# -- helpers -------------------------------------------------------------------------------


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> dict[str, Any]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: stopped as one
        )
    return {"pid": proc.pid, "log": str(log)}


def _wait_port(host: str, port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise OperationTimeoutError(
        f"a team service did not answer on {host}:{port} within {timeout:g} s",
        component="team",
        operation="team up",
        hint=f"read {log}",
    )


def _make_bucket(endpoint: str, env: dict[str, str]) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    try:
        client.create_bucket(Bucket=BUCKET)
    except Exception as exc:
        raise ConnectionFailedError(
            f"could not create the bucket {BUCKET} at {endpoint}: {exc}",
            component="team",
            operation="team up",
            hint="read .mlops/team/s3.log",
        ) from exc


def _write_config(folder: Path, services: dict[str, Any]) -> Path:
    s3 = services["s3"]["url"]
    text = f"""# Written by `mlops team up`: this repository's projects on the team's services.
# Use it with: export MLOPS_CONFIG={folder / "team.toml"}
[tracking]
uri = "{services["tracking"]["url"]}"

[data]
remote_url = "s3://{BUCKET}/dvc"
endpoint_url = "{s3}"

[serving]
registry = "s3://{BUCKET}/bentos"
registry_endpoint_url = "{s3}"

[monitoring]
workspace = "{services["monitoring"]["url"]}"
"""
    path = folder / "team.toml"
    path.write_text(text)
    return path


def _record(folder: Path, services: dict[str, Any]) -> None:
    (folder / "team.json").write_text(json.dumps(services, indent=2))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_ours(pid: int, marker: bytes) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the recorded PID
    return marker in cmdline


def _stop_group(pid: int) -> None:
    from mlops.tracking.server import stop_process_group

    stop_process_group(pid)


def _free_port(host: str) -> int:
    from mlops.serving.server import free_port

    return free_port(host)
