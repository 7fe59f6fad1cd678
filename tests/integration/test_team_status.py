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
    started = time.monotonic()
    done = _status(repo, env, "--json")
    elapsed = time.monotonic() - started
    rows = {row["service"]: row for row in json.loads(done.stdout)["services"]}
    for name in ("tracking", "artifact store", "DVC remote", "monitoring workspace"):
        assert rows[name]["reachable"] is False, rows[name]
        assert rows[name]["error"] and rows[name]["fix"], rows[name]
    assert "server start" in rows["tracking"]["fix"]
    assert "evidently ui" in rows["monitoring workspace"]["fix"]
    assert rows["Bento registry"]["reachable"] is True  # a folder that can be made
    assert elapsed < 30  # the probes run at once, each bounded

    table = _services_table(_status(repo, env).stdout)  # the plain-text table, as printed
    assert list(table) == SERVICES
    for name in ("tracking", "artifact store", "DVC remote", "monitoring workspace"):
        where, reachable, _, problem = table[name]
        assert reachable == "no" and rows[name]["fix"] in problem, table[name]
        assert where.startswith(rows[name]["location"])
    assert table["Bento registry"][1] == "yes"
    assert table["DVC remote"][0] == "s3://nowhere/dvc/team-status (shared)"


def test_status_in_a_clone_shows_the_committed_dvc_remote(repo: Path, tmp_path: Path) -> None:
    # The clone has no remote setting of its own: dvc_pull uses the committed .dvc/config
    # entry (the origin's remote), and so must the status.
    client = MLOpsClient.from_project("team-status", repo_root=repo)
    (repo / "train.csv").write_text("x,y\n1,2\n")
    try:
        client.dvc_add("train.csv")
        client.dvc_push()
    finally:
        client.close()
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "data"], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}

    rows = {r["service"]: r for r in json.loads(_status(clone, env, "--json").stdout)["services"]}
    team_remote = str(repo / ".mlops" / "dvc-remote" / "team-status")
    assert rows["DVC remote"]["location"] == team_remote, rows["DVC remote"]
    assert rows["DVC remote"]["reachable"] is True
    assert _services_table(_status(clone, env).stdout)["DVC remote"][:2] == [team_remote, "yes"]
    assert not (clone / ".mlops" / "dvc-remote").exists()  # the clone's own was never shown


def _status(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    mlops = str(Path(sys.executable).with_name("mlops"))
    done = subprocess.run(
        [mlops, "status", *args, "-p", "team-status", "--repo-root", str(root)],
        env={**env, "COLUMNS": "400"},  # one line per row: nothing wrapped
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _services_table(text: str) -> dict[str, list[str]]:
    """The rows of the services table: service -> [where, reachable, version, problem]."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 5 and cells[0] in SERVICES:
            rows[cells[0]] = cells[1:]
    return rows
