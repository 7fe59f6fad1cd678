"""The shared services a project talks to, probed for ``mlops status``.

Tracking server, artifact store, DVC remote, Bento registry and monitoring workspace:
where each is, whether it answers, its version where it says one, and what to do when it
does not. Every probe is bounded (``PROBE_TIMEOUT`` seconds, all run at once); nothing is
created, and no tool heavier than the standard library and boto3 (for S3) is loaded.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.config import Settings
from mlops.errors import redact
from mlops.invocation import mlops_command

__all__ = ["PROBE_TIMEOUT", "probe_services"]

PROBE_TIMEOUT = 5.0

Probe = Callable[[], tuple[bool, str | None, str | None]]  # reachable, version, problem


def probe_services(settings: Settings, timeout: float = PROBE_TIMEOUT) -> list[dict[str, Any]]:
    """One row per service: ``service``, ``location``, ``shared``, ``reachable``,
    ``version``, ``error`` and ``fix`` (None when it answers)."""
    rows = _rows(settings, timeout)
    with concurrent.futures.ThreadPoolExecutor(len(rows), "mlops-status") as pool:
        futures = {pool.submit(row.pop("probe")): row for row in rows}
        done, _ = concurrent.futures.wait(futures, timeout=timeout + 1)
        for future, row in futures.items():
            if future in done and future.exception() is None:
                reachable, version, problem = future.result()
            elif future in done:
                reachable, version, problem = False, None, str(future.exception())
            else:
                reachable, version, problem = False, None, f"no answer within {timeout:g} s"
            if row["location"] is None:  # not configured: nothing to reach
                reachable, problem = None, None
            row.update(
                reachable=reachable, version=version, error=redact(problem) if problem else None
            )
            if reachable is not False:
                row["fix"] = None
    return rows


def _rows(settings: Settings, timeout: float) -> list[dict[str, Any]]:
    from mlops.serving.registry import registry_of
    from mlops.tracking._http import auth_header, split_credentials
    from mlops.versioning.remote import effective_remote

    uri = settings.tracking_uri
    remote_tracking = uri.startswith(("http://", "https://"))
    dvc_url, dvc_endpoint = effective_remote(settings)
    registry = registry_of(settings)
    service = settings.monitoring_service
    artifacts = settings.tracking.artifact_location
    rows: list[dict[str, Any]] = [
        {
            "service": "tracking",
            "location": redact(uri),
            "shared": remote_tracking,
            "probe": (
                (lambda: _http_version(uri, "/version", timeout, auth_header(uri), "mlflow"))
                if remote_tracking
                else (lambda: _local_parent(Path(uri[len("sqlite:///") :])))
            ),
            "fix": f"start it (`{mlops_command('server', 'start')}`) or fix MLOPS_TRACKING_URI",
        },
        {
            "service": "artifact store",
            "location": redact(artifacts)
            if artifacts
            else ("through the tracking server" if remote_tracking else settings.artifact_root),
            "shared": remote_tracking or bool(artifacts and "://" in artifacts),
            "probe": _artifact_probe(settings, split_credentials(uri)[0], timeout),
            "fix": "check tracking.artifact_location and its credentials",
        },
        {
            "service": "DVC remote",
            "location": redact(dvc_url),
            "shared": "://" in dvc_url,
            "probe": (
                (lambda: _s3_bucket(dvc_url, dvc_endpoint, timeout))
                if dvc_url.startswith("s3://")
                else (lambda: _local_parent(Path(dvc_url)))
            ),
            "fix": "check data.remote_url / data.endpoint_url and the AWS credentials",
        },
        {
            "service": "Bento registry",
            "location": redact(registry.url) if registry else None,
            "shared": registry is not None,
            "probe": (
                (lambda: (True, None, None))
                if registry is None
                else (
                    (lambda: _s3_bucket(registry.url, registry.endpoint_url, timeout))
                    if registry.is_s3
                    else (lambda: _local_parent(Path(registry.url)))
                )
            ),
            "fix": "check serving.registry / serving.registry_endpoint_url",
        },
        {
            "service": "monitoring workspace",
            "location": settings.monitoring_location,
            "shared": service is not None,
            "probe": (
                (lambda: _http_version(service, "/api/version", timeout, {}, "evidently"))
                if service
                else (lambda: _local_parent(settings.monitoring_workspace))
            ),
            "fix": "start it (`evidently ui --host 0.0.0.0 --port 8000 --workspace <folder>`) "
            "or fix monitoring.workspace",
        },
    ]
    return rows


def _artifact_probe(settings: Settings, tracking: str, timeout: float) -> Probe:
    artifacts = settings.tracking.artifact_location
    if artifacts and artifacts.startswith("s3://"):
        endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL")
        return lambda: _s3_bucket(artifacts, endpoint, timeout)
    if tracking.startswith(("http://", "https://")) and not artifacts:
        # Proxied (mlflow-artifacts:): reachable when the server is; its version is the server's.
        return lambda: _http_version(tracking, "/version", timeout, {}, "mlflow")
    return lambda: _local_parent(Path(settings.artifact_root))


def _http_version(
    url: str, path: str, timeout: float, headers: dict[str, str], kind: str
) -> tuple[bool, str | None, str | None]:
    from mlops.tracking._http import split_credentials

    bare = split_credentials(url)[0].rstrip("/")
    request = urllib.request.Request(bare + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(2000).decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:
        return False, None, f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError) as exc:
        return False, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if kind == "evidently":
        try:
            return True, str(json.loads(body).get("version")), None
        except (ValueError, AttributeError):
            return False, None, "it answered, but not as an Evidently UI service"
    return True, body[:40] or None, None


def _s3_bucket(
    url: str, endpoint: str | None, timeout: float
) -> tuple[bool, str | None, str | None]:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return False, None, 'boto3 is not installed (pip install "mlops[team]")'
    bucket = url[len("s3://") :].split("/", 1)[0]
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
    try:
        boto3.client("s3", endpoint_url=endpoint, config=config).head_bucket(Bucket=bucket)
    except Exception as exc:  # any failure is the answer: not reachable, and why
        return False, None, f"{type(exc).__name__}: {exc}"
    return True, None, None


def _local_parent(path: Path) -> tuple[bool, str | None, str | None]:
    """A local store is usable when it, or the nearest folder above it, is writable."""
    for folder in (path, *path.parents):
        if folder.exists():
            if os.access(folder, os.W_OK):
                return True, None, None
            return False, None, f"{folder} is not writable"
    return False, None, f"no folder above {path}"
