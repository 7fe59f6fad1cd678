"""The team's commands as a user types them: `mlops server start --auth --workers 2
--artifacts-destination s3://...` on PostgreSQL with a real S3 API (moto), a project logging
an artifact through it into the bucket, `mlops server stop` ending every worker; and
`mlops deploy --push` putting a Bento into the team's registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from tests.conftest import free_port
from tests.faults.harness import pg_database

from .test_versioning import _bucket, _keys, _start_moto, _stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MLOPS = str(Path(sys.executable).with_name("mlops"))
KEYS = {"AWS_ACCESS_KEY_ID": "team-cli", "AWS_SECRET_ACCESS_KEY": "team-cli"}
ADMIN_PASSWORD = "adm1n-Cli-8Tz"


def query(uri: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` in the database of ``uri`` (a postgresql+psycopg2 URI)."""
    import psycopg2

    conn = psycopg2.connect(uri.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A real S3 API (moto_server) on 127.0.0.1 and a free port."""
    proc, endpoint = _start_moto(KEYS)
    yield endpoint
    _stop(proc)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The S3 credentials, from the environment only."""
    for key, value in {**KEYS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}


def _mlops(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [MLOPS, *argv], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _group(pgid: int) -> dict[int, str]:
    """The processes of process group ``pgid``: pid -> command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found[int(stat.parent.name)] = cmdline.decode(errors="replace")
    return found


@pytest.mark.postgres
def test_server_start_with_auth_workers_and_s3_artifacts_then_stop_ends_every_worker(
    s3: str, aws: dict[str, str], tmp_path: Path
) -> None:
    bucket = _bucket(s3, "team-artifacts")
    srv, port = tmp_path / "srv", free_port()
    srv.mkdir()
    env = {**aws, "MLFLOW_S3_ENDPOINT_URL": s3, "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with pg_database("mlops_team") as backend:
        started = _mlops(
            *("server", "start", "--repo-root", str(srv), "--backend-store-uri", backend),
            *("--port", str(port), "--auth", "--workers", "2"),
            *("--artifacts-destination", f"s3://{bucket}/artifacts"),
            env=env,
        )
        try:
            assert f"MLflow server running at http://127.0.0.1:{port}" in started.stdout
            pid = json.loads((srv / ".mlops" / "server" / "server.json").read_text())["pid"]
            group = _group(pid)
            workers = [p for p, cmd in group.items() if "multiprocessing.spawn" in cmd]
            assert len(workers) == 2, group  # uvicorn's two worker processes

            url = f"http://admin:{ADMIN_PASSWORD}@127.0.0.1:{port}"
            client = MLOpsClient.from_project(
                "team-cli",
                repo_root=tmp_path,
                tracking_uri=url,
                tracking={"offline": "never", "timeout": 60},  # through the server, or fail
            )
            notes = tmp_path / "notes.txt"
            notes.write_text("through the team's server into its bucket\n")
            try:
                with client.start_run(run_name="to-s3") as run:
                    client.log_artifact(notes)
            finally:
                client.close()
            run_id = run.info.run_id
            keys = _keys(s3, bucket)
            assert [k for k in keys if k.endswith(f"/{run_id}/artifacts/notes.txt")], keys
            assert [k.split("/")[0] for k in keys] == ["artifacts"] * len(keys)
            # The runs live in PostgreSQL, not in a file next to the server.
            assert query(backend, f"SELECT name FROM runs WHERE run_uuid = '{run_id}'") == [
                ("to-s3",)
            ]
            assert (
                "running: True"
                in _mlops("server", "status", "--repo-root", str(srv), env=env).stdout
            )
        finally:
            stopped = _mlops("server", "stop", "--repo-root", str(srv), env=env)
        assert f"stopped server pid {pid}" in stopped.stdout
        assert _group(pid) == {}  # the server, uvicorn and every worker
        assert ADMIN_PASSWORD not in (srv / ".mlops" / "server" / "basic_auth.ini").read_text()


def test_deploy_push_puts_the_bento_into_the_registry(
    s3: str, aws: dict[str, str], tmp_path: Path
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    bucket = _bucket(s3, "team-bentos")
    serving = {"registry": f"s3://{bucket}/bentos", "registry_endpoint_url": s3}
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MLOpsClient.from_project("pusher", repo_root=tmp_path, tracking_uri=store)
    try:
        x, y = load_iris(return_X_y=True)
        with client.start_run(run_name="fit") as run:
            client.log_model(
                LogisticRegression(max_iter=300).fit(x, y),
                "model",
                registered_model_name="iris-cli",
            )
    finally:
        client.close()
    env = {**aws, "MLOPS_TRACKING_URI": store}
    env |= {"MLOPS_SERVING_REGISTRY": serving["registry"]}
    env |= {"MLOPS_SERVING_REGISTRY_ENDPOINT_URL": serving["registry_endpoint_url"]}
    done = _mlops(
        *("deploy", "models:/iris-cli/1", "--name", "iris-cli", "--version", "v3", "--push"),
        *("-p", "pusher", "--repo-root", str(tmp_path)),
        env=env,
    )
    printed = json.loads(done.stdout)
    assert printed["bento_tag"] == "iris-cli:v3"
    assert printed["registry_url"] == f"s3://{bucket}/bentos/iris-cli/v3.bento"
    assert _keys(s3, bucket) == ["bentos/iris-cli/v3.bento"]
    listed = _mlops("bento", "list", "-p", "pusher", "--repo-root", str(tmp_path), env=env)
    assert "iris-cli:v3" in listed.stdout
    (tmp_path / "elsewhere").mkdir()
    other = MLOpsClient.from_project(
        "pusher", repo_root=tmp_path / "elsewhere", tracking_uri=store, serving=serving
    )
    try:  # another machine's store pulls it, with the run it came from
        assert other.pull_bento("iris-cli:v3")["labels"]["run_id"] == run.info.run_id
    finally:
        other.close()
