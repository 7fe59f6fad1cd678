"""`mlops status` on a team's shared services: a real MLflow server on PostgreSQL, a real
S3 API (moto) holding the DVC remote and the Bento registry, a real Evidently UI service;
then the same project pointed at services that are not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from tests.conftest import free_port

from .conftest import MlflowServer
from .test_monitoring_service import evidently_service
from .test_versioning import _bucket, aws_env, s3_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
__all__ = ["aws_env", "evidently_service", "s3_endpoint"]  # fixtures used here

SERVICES = ["tracking", "artifact store", "DVC remote", "Bento registry", "monitoring workspace"]


def test_status_shows_every_shared_service_reachable_with_its_version(
    mlflow_server: MlflowServer,
    s3_endpoint: str,
    evidently_service: str,
    aws_env: None,
    repo: Path,
) -> None:
    bucket = _bucket(s3_endpoint, "team-status")
    client = MLOpsClient.from_project(
        "team-status",
        repo_root=repo,
        tracking_uri=mlflow_server.url,
        data={"remote_url": f"s3://{bucket}/dvc", "endpoint_url": s3_endpoint},
        serving={"registry": f"s3://{bucket}/bentos", "registry_endpoint_url": s3_endpoint},
        monitoring={"workspace": evidently_service},
    )
    try:
        status = client.get_status()
    finally:
        client.close()
    rows = {row["service"]: row for row in status["services"]}
    assert list(rows) == SERVICES
    assert all(row["reachable"] and row["shared"] for row in rows.values()), rows
    assert rows["tracking"]["version"] == rows["artifact store"]["version"]
    import evidently
    import mlflow

    assert rows["tracking"]["version"] == mlflow.__version__
    assert rows["monitoring workspace"]["version"] == evidently.__version__
    assert all(row["fix"] is None and row["error"] is None for row in rows.values())


def test_status_names_what_does_not_answer_and_the_fix_within_seconds(
    repo: Path, aws_env: None
) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env |= {
        "MLOPS_TRACKING_URI": gone,
        "MLOPS_DATA_REMOTE_URL": "s3://nowhere/dvc",
        "MLOPS_DATA_ENDPOINT_URL": gone,
        "MLOPS_SERVING_REGISTRY": str(repo / "shared-registry"),
        "MLOPS_MONITORING_WORKSPACE": gone,
    }
    mlops = str(Path(sys.executable).with_name("mlops"))
    started = time.monotonic()
    done = subprocess.run(
        [mlops, "status", "--json", "-p", "team-status", "--repo-root", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    rows = {row["service"]: row for row in json.loads(done.stdout)["services"]}
    for name in ("tracking", "artifact store", "DVC remote", "monitoring workspace"):
        assert rows[name]["reachable"] is False, rows[name]
        assert rows[name]["error"] and rows[name]["fix"], rows[name]
    assert "server start" in rows["tracking"]["fix"]
    assert "evidently ui" in rows["monitoring workspace"]["fix"]
    assert rows["Bento registry"]["reachable"] is True  # a folder that can be made
    assert elapsed < 30  # the probes run at once, each bounded
