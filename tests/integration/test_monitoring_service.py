"""A team's Evidently UI service: two repositories (two machines' workspaces) send their
checks to one real `evidently ui` process; each sees both, in Evidently's API and in
`lineage()`. The service runs on 127.0.0.1 and a free port, stopped by its process group.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from mlops.errors import ConnectionFailedError

from .conftest import start_evidently
from .test_monitoring import batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


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
