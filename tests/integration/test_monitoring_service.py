"""A team's Evidently UI service: two repositories (two machines' workspaces) send their
checks to one real `evidently ui` process; each sees both, in Evidently's API and in
`lineage()`. The service runs on 127.0.0.1 and a free port, stopped by its process group.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from mlops.errors import AuthenticationError, ConnectionFailedError
from tests.conftest import free_port

from .conftest import EvidentlyService, start_evidently
from .test_monitoring import batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SECRET = "team-Secret-4Kq"


@pytest.fixture(scope="module")
def evidently_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = start_evidently(tmp_path_factory.mktemp("evidently-service"))
    yield service.url
    service.stop()


def _machine(tmp_path: Path, host: str, service: str) -> MLOpsClient:
    root = tmp_path / host
    root.mkdir()
    return MLOpsClient.from_project(
        "watched-by-team",
        repo_root=root,
        tracking_uri=f"sqlite:///{tmp_path / 'team-mlflow.db'}",
        monitoring={"workspace": service, "timeout": 10},
    )


def test_checks_of_two_machines_land_in_one_evidently_service(
    evidently_service: str, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    a = _machine(tmp_path, "host-a", evidently_service)
    b = _machine(tmp_path, "host-b", evidently_service)
    try:
        reference = batch(seed=1)
        with a.start_run(run_name="fit"):
            model = LogisticRegression().fit(reference[["f0", "f3"]], reference["y"])
            a.log_model(model, "model", registered_model_name="watched-model")
        for client in (a, b):  # each machine sets the reference from the same data version
            client.set_reference_data(reference, target_column="y", prediction_column="pred")
        first = a.monitor_predictions(batch(seed=2))
        second = b.monitor_predictions(batch(seed=3))
        assert (first["check"], second["check"]) == (1, 2)  # one numbering for the team
        assert second["evidently"]["workspace"] == evidently_service

        # Evidently's own client finds the project; the service's API lists both checks.
        project = b.evidently_workspace.search_project("watched-by-team")[0]
        url = f"{evidently_service}/api/projects/{project.id}/snapshots"
        with urllib.request.urlopen(url, timeout=10) as response:
            listed = json.loads(response.read())
        assert sorted(item["name"] for item in listed) == ["check 1", "check 2"]

        lineage = b.lineage("watched-model")
        monitoring = lineage["monitoring"]
        assert monitoring["checks"] == 2
        assert [h["name"] for h in monitoring["history"]] == ["check 1", "check 2"]
        assert {h["metadata"]["host"] for h in monitoring["history"]} == {socket.gethostname()}
        assert monitoring["history"][0]["metadata"]["mlops_project"] == "watched-by-team"
        assert b.get_status(check_reachable=False)["components"]["monitoring"]["configured"] == (
            evidently_service
        )
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(60)
def test_an_unreachable_service_fails_within_its_timeout_naming_the_fix(tmp_path: Path) -> None:
    with socket.socket() as hole:  # a port that accepts and never answers: a hung service
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        client = MLOpsClient.from_project(
            "alone",
            repo_root=tmp_path,
            monitoring={"workspace": url, "timeout": 2},
        )
        try:
            client.set_reference_data(batch(seed=1), target_column="y", prediction_column="pred")
            started = time.monotonic()
            with pytest.raises(ConnectionFailedError) as info:
                client.monitor_predictions(batch(seed=2))
            assert time.monotonic() - started < 15
        finally:
            client.close()
    assert info.value.component == "monitoring"
    assert "evidently ui" in (info.value.hint or "")


@pytest.fixture
def guarded_service(tmp_path: Path) -> Iterator[str]:
    """`evidently ui --secret`: reads are open, writes need the secret."""
    port = free_port()
    argv = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(tmp_path / "ws")]
    proc = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port), "--secret", SECRET],
        stdout=(tmp_path / "ui.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        start_new_session=True,
    )
    service = EvidentlyService(proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "ui.log"
                ).read_text()[-2000:]
                time.sleep(0.3)
        yield service.url
    finally:
        service.stop()


def test_a_refused_secret_is_an_authentication_error_naming_the_setting(
    guarded_service: str, tmp_path: Path
) -> None:
    def machine(name: str, secret: str | None) -> MLOpsClient:
        client = MLOpsClient.from_project(
            "guarded",
            repo_root=tmp_path / name,
            tracking_uri=f"sqlite:///{tmp_path / 'team-mlflow.db'}",
            monitoring={"workspace": guarded_service, "secret": secret, "timeout": 10},
        )
        client.set_reference_data(batch(seed=1), target_column="y", prediction_column="pred")
        return client

    allowed = machine("with-secret", SECRET)
    try:
        assert allowed.monitor_predictions(batch(seed=2))["check"] == 1
    finally:
        allowed.close()
    for name, secret in (("no-secret", None), ("wrong-secret", "not-the-Secret-1")):
        refused = machine(name, secret)
        try:
            with pytest.raises(AuthenticationError) as info:
                refused.monitor_predictions(batch(seed=3))
        finally:
            refused.close()
        error = info.value
        assert error.component == "monitoring"
        assert "refused the secret (HTTP 403)" in str(error)
        assert "monitoring.secret" in (error.hint or "")
        assert "MLOPS_MONITORING_SECRET" in (error.hint or "")
        assert SECRET not in f"{error} {error.hint}" and "not-the-Secret-1" not in str(error)
    with urllib.request.urlopen(f"{guarded_service}/api/projects", timeout=10) as response:
        project = next(p for p in json.loads(response.read()) if p["name"] == "guarded")
    url = f"{guarded_service}/api/projects/{project['id']}/snapshots"
    with urllib.request.urlopen(url, timeout=10) as response:  # reading needs no secret
        assert [item["name"] for item in json.loads(response.read())] == ["check 1"]
