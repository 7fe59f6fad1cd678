"""Credentials against a real `mlflow server` on PostgreSQL running MLflow's basic-auth app.

The server is started by `mlops.tracking.server.start_server` with `server.auth` (what
`mlops server start --auth` runs; the command itself is run in test_team_cli.py); a user is
made through the server's own user API; runs are logged with the user's credentials in the
tracking URI and in MLflow's environment variables. Then the user's password is searched
for everywhere we could have put it: the repository (with `.mlops/`, the write-ahead log and
the delivery agent's files), the server's folder, its log, both databases, and what we
printed or logged.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import MLOpsClientError
from tests.conftest import free_port

from .conftest import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ADMIN_PASSWORD = "adm1n-Pw-7Ld"
PASSWORD = "al1ce-Pw-9Qx"
MLOPS = str(Path(sys.executable).with_name("mlops"))
# These runs must reach the server: a slow answer (a first request on a busy machine) is
# waited for, not a reason to log offline (the offline path has its own tests).
ONLINE = {"offline": "never", "timeout": 60}


@pytest.fixture(scope="module")
def auth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `mlops server` runs the basic-auth server from."""
    return tmp_path_factory.mktemp("auth-srv")


@pytest.fixture(scope="module")
def auth_server(postgres_uri: str, auth_root: Path) -> Iterator[str]:
    """A basic-auth server with the user alice; yields its bare URL."""
    server = MlflowServer(auth_root, free_port(), postgres_uri, True)
    previous = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD")
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD  # the first start only
    try:
        server.start()
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
        else:
            os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = previous
    made = requests.post(
        f"{server.url}/api/2.0/mlflow/users/create",
        json={"username": "alice", "password": PASSWORD},
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    )
    assert made.status_code == 200, made.text
    yield server.url
    server.stop()


def _with_userinfo(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@")


def _admin(url: str) -> MlflowClient:
    return MlflowClient(tracking_uri=_with_userinfo(url, "admin", ADMIN_PASSWORD))


def _log_a_run(client: MLOpsClient, tmp_path: Path) -> str:
    artifact = tmp_path / "notes.txt"
    artifact.write_text("what alice tried\n")
    with client.start_run(run_name="with-credentials") as run:
        client.log_params({"lr": 0.01})
        client.set_tags({"owner": "alice"})
        for step in range(500):
            client.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        client.log_artifact(artifact)
    return run.info.run_id


def _assert_stored(url: str, run_id: str) -> None:
    admin = _admin(url)
    run = admin.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.01"} and run.data.tags["owner"] == "alice"
    assert sorted(m.step for m in admin.get_metric_history(run_id, "loss")) == list(range(500))
    assert [f.path for f in admin.list_artifacts(run_id)] == ["notes.txt"]


def test_credentials_in_the_uri_log_and_sync_and_leak_nowhere(
    *,
    auth_server: str,
    repo: Path,
    tmp_path: Path,
    postgres_uri: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    uri = _with_userinfo(auth_server, "alice", PASSWORD)
    client = MLOpsClient.from_project(
        "auth-proj", repo_root=repo, tracking_uri=uri, tracking=ONLINE
    )
    try:
        run_id = _log_a_run(client, tmp_path)
        status = client.get_status()
    finally:
        client.close()
    _assert_stored(auth_server, run_id)
    assert status["components"]["tracking"]["reachable"] is True
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_TRACKING_URI"] = uri
    for argv in (["sync"], ["status"], ["runs", "list"]):
        done = subprocess.run(
            [MLOPS, *argv, "--project", "auth-proj", "--repo-root", str(repo)]
            if argv != ["sync"]
            else [MLOPS, "sync", "--repo-root", str(repo)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        assert PASSWORD not in done.stdout + done.stderr
    printed = capfd.readouterr()
    assert PASSWORD not in printed.out + printed.err
    assert caplog.records and all(PASSWORD not in r.getMessage() for r in caplog.records)
    assert not _files_holding(PASSWORD.encode(), repo)  # .mlops/, WAL, agent status, logs
    database = postgres_uri.rsplit("/", 1)[1]
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", database],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    assert b"with-credentials" in dump  # the dump holds the run ...
    assert PASSWORD.encode() not in dump  # ... and not the password


def test_mlflow_environment_credentials_reach_the_delivery_agent(
    auth_server: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    client = MLOpsClient.from_project(
        "auth-env", repo_root=repo, tracking_uri=auth_server, tracking=ONLINE
    )
    try:
        run_id = _log_a_run(client, tmp_path)
    finally:
        client.close()
    _assert_stored(auth_server, run_id)
    assert not _files_holding(PASSWORD.encode(), repo)


def test_wrong_credentials_give_one_clear_error(auth_server: str, repo: Path) -> None:
    uri = _with_userinfo(auth_server, "alice", "not-her-Pw")
    client = MLOpsClient.from_project("auth-wrong", repo_root=repo, tracking_uri=uri)
    try:
        with pytest.raises(MLOpsClientError) as info, client.start_run():
            pass
    finally:
        client.close(timeout=5)
    error = info.value
    assert error.component == "tracking"
    assert "credentials" in str(error) and "MLFLOW_TRACKING_USERNAME" in (error.hint or "")
    assert "not-her-Pw" not in str(error)


def test_the_server_folder_holds_no_password(auth_server: str, auth_root: Path) -> None:
    # The admin's password reached the server through its environment, on the first start;
    # users' passwords live in the auth database as salted hashes only.
    log = (auth_root / ".mlops" / "server" / "server.log").read_text()
    assert "basic" in (auth_root / ".mlops" / "server" / "basic_auth.ini").read_text()
    assert log  # the server wrote its log there
    for secret in (ADMIN_PASSWORD, PASSWORD):
        assert not _files_holding(secret.encode(), auth_root)


def _files_holding(secret: bytes, *roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    if secret in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue
    return found
