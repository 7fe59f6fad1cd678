"""Offline-first runs against a real `mlflow server` on PostgreSQL that is away, then back.

Real processes, a real server, real DVC and scikit-learn: the run is logged while the
server is down, `mlops sync` delivers it when the server is up, exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from tests.conftest import free_port, with_terminal_signals

from .conftest import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
MLOPS = str(Path(sys.executable).with_name("mlops"))


def child_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | extra


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float, int]]:
    points = MlflowClient(uri).get_metric_history(run_id, key)
    return sorted((p.step, p.value, p.timestamp) for p in points)


@pytest.fixture
def later_server(postgres_uri: str, tmp_path: Path) -> Any:
    """A PostgreSQL-backed server on a port of its own, not started yet."""
    server = MlflowServer(tmp_path / "srv", free_port(), postgres_uri)
    yield server
    server.stop()


OFFLINE_RUN = """
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.linear_model import LogisticRegression
from mlops.client import create_client

root, uri = sys.argv[1], sys.argv[2]
client = create_client("away", repo_root=root, tracking_uri=uri)
Path(root, "data").mkdir(exist_ok=True)
Path(root, "data", "train.csv").write_text("x,y\\n1,0\\n2,1\\n")
Path(root, "notes.txt").write_text("offline notes")
t0 = time.perf_counter()
with client.start_run(run_name="offline-train", tags={"team": "a"}) as run:
    started = time.perf_counter() - t0
    client.log_params({"lr": 0.1, "epochs": 3})
    client.set_tags({"stage": "dev"})
    version = client.dvc_add("data/train.csv")
    for i in range(100_000):
        client.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
    client.log_artifact(Path(root, "notes.txt"))
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    info = client.log_model(model, "model", registered_model_name="away-clf")
t1 = time.perf_counter()
client.close()
print(json.dumps({"run_id": run.info.run_id, "start_s": started, "md5": version["md5"],
                  "end_s": time.perf_counter() - t1, "model_uri": info.model_uri}))
"""


def test_a_run_logged_while_the_server_is_down_arrives_whole_after_sync(
    repo: Path, later_server: MlflowServer
) -> None:
    import json

    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(repo), later_server.url],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "logged offline" in out.stderr  # one clear warning
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["start_s"] < 0.5 and facts["end_s"] < 5  # never waited on the network
    local_id = facts["run_id"]

    later_server.start()
    sync = [MLOPS, "sync", "-p", "away", "--repo-root", str(repo)]
    env = child_env(MLOPS_TRACKING_URI=later_server.url)
    done = subprocess.run(sync, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    client = MLOpsClient.from_project("away", repo_root=repo, tracking_uri=later_server.url)
    mlflow = MlflowClient(later_server.url)
    (run,) = mlflow.search_runs(
        [mlflow.get_experiment_by_name("away").experiment_id],
        f"tags.`mlops.local_run_id` = '{local_id}'",
    )
    server_id = run.info.run_id
    assert run.info.run_name == "offline-train" and run.info.status == "FINISHED"
    assert run.info.start_time < run.info.end_time
    assert run.data.params == {"lr": "0.1", "epochs": "3"}
    assert run.data.tags["team"] == "a" and run.data.tags["stage"] == "dev"
    points = history(later_server.url, server_id, "loss")
    assert [s for s, _, _ in points] == list(range(100_000))  # every point, once
    assert min(t for _, _, t in points) >= run.info.start_time  # original timestamps
    assert [a.path for a in mlflow.list_artifacts(server_id)] == ["notes.txt"]
    (mv,) = mlflow.search_model_versions("name = 'away-clf'")
    assert mv.run_id == server_id
    loaded = client.load_model("models:/away-clf/1")
    assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]
    datasets = client.get_data_versions(local_id)  # the local id is accepted
    assert [d["md5"] for d in datasets] == [facts["md5"]]
    assert client.records.run(local_id)["run_id"] == server_id

    again = subprocess.run(sync, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert again.returncode == 0 and "0 records" in again.stdout  # nothing left to do
    assert len(history(later_server.url, server_id, "loss")) == 100_000
    assert len(mlflow.search_model_versions("name = 'away-clf'")) == 1
    client.close()


def test_server_killed_mid_run_loses_nothing_params_and_tags_included(
    repo: Path, later_server: MlflowServer
) -> None:
    later_server.start()
    client = MLOpsClient.from_project(
        "flaky", repo_root=repo, tracking_uri=later_server.url, tracking={"offline_after": 1}
    )
    with client.start_run(run_name="through-outage") as run:
        client.log_params({"before": 1})
        for i in range(2000):
            client.log_metrics({"x": float(i)}, step=i)
        later_server.stop()
        started = time.monotonic()
        client.log_params({"during": 2})
        client.set_tags({"outage": "yes"})
        for i in range(2000, 4000):
            client.log_metrics({"x": float(i)}, step=i)
        assert time.monotonic() - started < 5  # one bounded wait, then offline
        later_server.start()
        client.log_params({"after": 3})
    assert client.sync(timeout=180)["complete"] == 1
    got = MlflowClient(later_server.url).get_run(run.info.run_id)
    assert got.data.params == {"before": "1", "during": "2", "after": "3"}
    assert got.data.tags["outage"] == "yes" and got.info.status == "FINISHED"
    steps = [s for s, _, _ in history(later_server.url, run.info.run_id, "x")]
    assert steps == list(range(4000))
    client.close()


WATCHED = """
import sys
from mlops.client import create_client
client = create_client("watched", repo_root=sys.argv[1])
with client.start_run(run_name=sys.argv[2]) as run:
    for i in range(3000):
        client.log_metrics({"x": float(i)}, step=i)
print(run.info.run_id)
"""


def test_sync_watch_delivers_runs_other_processes_write(repo: Path) -> None:
    import signal

    watcher = subprocess.Popen(
        with_terminal_signals(
            [MLOPS, "sync", "--watch", "-p", "watched", "--repo-root", str(repo)]
        ),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wal = repo / ".mlops" / "workspaces" / "watched" / "wal"
        deadline = time.monotonic() + 60
        while not list(wal.glob(".agent-*.fifo")) and time.monotonic() < deadline:
            time.sleep(0.2)
        run_ids = []
        for name in ("first", "second"):
            done = subprocess.run(
                [sys.executable, "-c", WATCHED, str(repo), name],
                capture_output=True,
                text=True,
                env=child_env(),
                timeout=180,
                check=True,
            )
            run_ids.append(done.stdout.strip())
        client = MLOpsClient.from_project("watched", repo_root=repo)
        for run_id in run_ids:
            steps = [s for s, _, _ in history(client.settings.tracking_uri, run_id, "x")]
            assert steps == list(range(3000))
        assert client.get_status()["telemetry"]["agent"]["pid"] == watcher.pid
        client.close()
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
