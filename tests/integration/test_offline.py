"""Offline-first runs against a real `mlflow server` on PostgreSQL that is away, then back.

Real processes, a real server, real DVC and scikit-learn: the run is logged while the
server is down, `mlops sync` delivers it when the server is up, exactly once (a replay
of the log after a lost acknowledgement changes nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.tags import LOCAL_RUN_TAG
from mlops.telemetry.wal import Event, read_entries, write_ack
from mlops.tracking.offline import LocalRun
from tests.conftest import free_port, with_terminal_signals

from .conftest import MlflowServer
from .test_team_cli import query

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
MLOPS = str(Path(sys.executable).with_name("mlops"))


def child_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | extra


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float, int]]:
    points = MlflowClient(uri).get_metric_history(run_id, key)
    return sorted((p.step, p.value, p.timestamp) for p in points)


@pytest.fixture
def patient_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading 100,000 points back from a server busy with other tests takes more than the
    client's interactive bound per request."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")


@pytest.fixture
def short_lived_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery agents started for a server that never comes back give up soon."""
    monkeypatch.setenv("MLOPS_TELEMETRY_AGENT_IDLE", "1")
    monkeypatch.setenv("MLOPS_TELEMETRY_AGENT_LINGER", "2")


@pytest.fixture
def later_server(postgres_uri: str, tmp_path: Path) -> Any:
    """A PostgreSQL-backed server on a port of its own, not started yet."""
    server = MlflowServer(tmp_path / "srv", free_port(), postgres_uri)
    yield server
    server.stop()


OFFLINE_RUN = """
import json, sys, time
from collections.abc import Iterator
from pathlib import Path
import numpy as np
from sklearn.linear_model import LogisticRegression
from mlops.client import create_client
from mlops.telemetry.wal import Event, read_entries

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
# The end the run recorded: the last record of its log.
folder = client.workspace.path("wal") / run.info.run_id
(end,) = [e.record.data for p in folder.glob("*.wal") for e in read_entries(p, 0, 10**6)
          if isinstance(e.record, Event) and e.record.kind == "end"]
client.close()
print(json.dumps({"run_id": run.info.run_id, "start_s": started, "md5": version["md5"],
                  "end_s": time.perf_counter() - t1, "model_uri": info.model_uri,
                  "start_time": run.info.start_time, "end_time": end["end_time"]}))
"""


def printed_sync(stderr: str) -> str:
    """The delivery command the offline warning printed (the last one in backticks)."""
    (warning,) = [line for line in stderr.splitlines() if "is logged locally" in line]
    return re.findall(r"`([^`]+)`", warning)[-1]


def run_printed(command: str, timeout: float) -> None:
    """Run a command as a user pastes it into a shell without MLOPS_* variables."""
    done = subprocess.run(
        command,
        shell=True,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def stored_points(server: MlflowServer, run_id: str, key: str) -> int:
    """Rows of ``key`` in the server's PostgreSQL metrics table for the run (counted in the
    database itself: reading 100,000 points back over REST takes 7 s here)."""
    sql = f"SELECT count(*) FROM metrics WHERE run_uuid = '{run_id}' AND key = '{key}'"
    ((count,),) = query(server.backend, sql)
    return int(count)


def server_state(server: MlflowServer, experiment: str, run_id: str) -> dict[str, Any]:
    """What the server holds of the project and the run, to compare before and after."""
    uri = server.url
    mlflow = MlflowClient(uri)
    exp_id = mlflow.get_experiment_by_name(experiment).experiment_id
    run = mlflow.get_run(run_id)
    return {
        "runs": sorted(r.info.run_id for r in mlflow.search_runs([exp_id], run_view_type=3)),
        "info": (run.info.status, run.info.start_time, run.info.end_time, run.info.run_name),
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
        "datasets": sorted(d.dataset.digest for d in run.inputs.dataset_inputs),
        "artifacts": sorted(a.path for a in mlflow.list_artifacts(run_id)),
        "points": stored_points(server, run_id, "loss"),
        "logged_models": sorted(
            (m.model_id, m.name, str(m.status)) for m in mlflow.search_logged_models([exp_id])
        ),
        "versions": sorted(
            (v.name, v.version, v.run_id) for v in mlflow.search_model_versions("name = 'away-clf'")
        ),
    }


def resolved_elsewhere(
    root: Path, uri: str, local_id: str, server_id: str, facts: dict[str, Any]
) -> None:
    """Another checkout (no log of this run) resolves the local id through the server's tag."""
    elsewhere = MLOpsClient.from_project("away", repo_root=root, tracking_uri=uri)
    assert not (elsewhere.workspace.root / "wal" / local_id).exists()
    assert elsewhere.records.run(local_id)["run_id"] == server_id  # histories: same lookup
    model = elsewhere.load_model(f"runs:/{local_id}/model")
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]
    assert [d["md5"] for d in elsewhere.get_data_versions(local_id)] == [facts["md5"]]
    elsewhere.close()


def lose_model_ack(saved: Path, run_dir: Path) -> None:
    """Put back the run's log as it was before delivery, acknowledged up to its model
    event: as if the agent died after logging and registering the model, before its
    acknowledgement reached the disk."""
    for item in saved.iterdir():
        target = run_dir / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, target)
    (segment,) = run_dir.glob("*.wal")
    entries = read_entries(segment, 0, 10**6)
    at = next(i for i, e in enumerate(entries) if isinstance(e.record, Event)
              and e.record.kind == "model")  # fmt: skip
    fd = os.open(segment.with_suffix(".ack"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        write_ack(fd, entries[at - 1].end)
    finally:
        os.close(fd)


def test_a_run_logged_while_the_server_is_down_arrives_whole_after_sync(
    repo: Path, later_server: MlflowServer, patient_reads: None, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN, str(repo), later_server.url],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr.count("cannot be reached") == 1  # one clear warning
    assert "until 1 h after the last process logging to this project" in out.stderr
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["start_s"] < 0.5 and facts["end_s"] < 5  # never waited on the network
    local_id = facts["run_id"]
    wal = repo / ".mlops" / "workspaces" / "away" / "wal"
    saved = tmp_path / "saved-log"
    shutil.copytree(wal / local_id, saved)  # for the replay at the end

    later_server.start()
    sync = printed_sync(out.stderr)  # as the warning printed it, in a shell without MLOPS_*
    assert f"MLOPS_TRACKING_URI={later_server.url}" in sync  # the URI was set in code
    run_printed(sync, timeout=600)

    client = MLOpsClient.from_project("away", repo_root=repo, tracking_uri=later_server.url)
    mlflow = MlflowClient(later_server.url)
    (run,) = mlflow.search_runs(
        [mlflow.get_experiment_by_name("away").experiment_id],
        f"tags.`mlops.local_run_id` = '{local_id}'",
    )
    server_id = run.info.run_id
    assert run.info.run_name == "offline-train" and run.info.status == "FINISHED"
    # the times the run recorded offline, not the times of the sync
    assert (run.info.start_time, run.info.end_time) == (facts["start_time"], facts["end_time"])
    assert run.data.params == {"lr": "0.1", "epochs": "3"}
    assert run.data.tags["team"] == "a" and run.data.tags["stage"] == "dev"
    points = history(later_server.url, server_id, "loss")
    assert [s for s, _, _ in points] == list(range(100_000))  # every point, once
    assert min(t for _, _, t in points) >= run.info.start_time  # original timestamps
    assert max(t for _, _, t in points) <= run.info.end_time
    assert [a.path for a in mlflow.list_artifacts(server_id)] == ["notes.txt"]
    (mv,) = mlflow.search_model_versions("name = 'away-clf'")
    assert mv.run_id == server_id
    for uri in ("models:/away-clf/1", facts["model_uri"]):  # runs:/<local id>/model
        assert list(client.load_model(uri).predict([[0.0], [3.0]])) == [0, 1], uri
    datasets = client.get_data_versions(local_id)  # the local id is accepted
    assert [d["md5"] for d in datasets] == [facts["md5"]]
    assert client.records.run(local_id)["run_id"] == server_id
    assert len(client.records.histories(local_id, ["loss"])["loss"]) == 100_000

    resolved_elsewhere(tmp_path / "elsewhere", later_server.url, local_id, server_id, facts)

    before = server_state(later_server, "away", server_id)
    assert len(before["runs"]) == 1 and len(before["logged_models"]) == 1
    assert before["points"] == 100_000
    run_printed(sync, timeout=120)
    assert server_state(later_server, "away", server_id) == before  # nothing changed

    # The agent died after logging and registering the model, before acknowledging it:
    # the replay finds the logged model and the version instead of making second ones.
    lose_model_ack(saved, wal / local_id)
    run_printed(sync, timeout=120)
    assert not list((wal / local_id).glob("*.wal"))  # the replayed log was delivered
    assert server_state(later_server, "away", server_id) == before
    assert list(client.load_model("models:/away-clf/1").predict([[3.0]])) == [1]
    client.close()


def test_the_dashboard_run_page_of_a_local_id_shows_its_charts(
    repo: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run page opened by an offline run's local id (after sync) draws its metrics."""
    from fastapi.testclient import TestClient

    from mlops.dashboard.app import create_app

    monkeypatch.setenv("MLOPS_TELEMETRY_AGENT_IDLE", "1")
    client = MLOpsClient.from_project(
        "paged", repo_root=repo, tracking_uri=mlflow_server.url, tracking={"offline": "always"}
    )
    with client.start_run(run_name="charted") as run:
        for i in range(5):
            client.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
    assert client.sync(timeout=120)["complete"] == 1
    client.close()
    monkeypatch.setenv("MLOPS_TRACKING_URI", mlflow_server.url)
    with TestClient(create_app(repo, project="paged"), base_url="http://127.0.0.1:8765") as http:
        page = http.get(f"/p/paged/runs/{run.info.run_id}")
    assert page.status_code == 200
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page.text)
    (figure,) = [json.loads(b) for b in blocks]
    assert figure["layout"]["title"]["text"] == "loss"
    assert figure["data"][0]["y"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_a_model_event_applied_again_reuses_what_the_first_attempt_made(repo: Path) -> None:
    """Delivering a saved model again (an attempt cut short after creating the logged
    model, then a lost acknowledgement) makes one logged model and one version."""
    import numpy as np
    from mlflow.entities import LoggedModelStatus
    from sklearn.linear_model import LogisticRegression

    from mlops.tags import SAVED_MODEL_TAG

    client = MLOpsClient.from_project("retry", repo_root=repo)
    tracker = client._tracker()
    with client.start_run(run_name="fit") as run:
        client.log_params({"c": 1})
    run_id, folder = run.info.run_id, repo / "saved" / "model"
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    tracker.save_model(model, folder)
    event = "0123456789abcdef0123456789abcdef/staged/0a1b2c3d4e5f/model"
    mlflow = client.mlflow_client
    cut_short = mlflow.create_logged_model(  # the first attempt died right after this
        tracker.experiment_id, name="model", source_run_id=run_id, tags={SAVED_MODEL_TAG: event}
    )
    first = tracker.log_saved_model(run_id, folder, "model", "retry-clf", event_id=event)
    second = tracker.log_saved_model(run_id, folder, "model", "retry-clf", event_id=event)
    assert first == second == {"model_id": cut_short.model_id, "registered_version": "1"}
    (logged,) = mlflow.search_logged_models([tracker.experiment_id])
    assert logged.model_id == cut_short.model_id and logged.status == LoggedModelStatus.READY
    (version,) = mlflow.search_model_versions("name = 'retry-clf'")
    assert version.run_id == run_id and version.tags[SAVED_MODEL_TAG] == event
    outputs = mlflow.get_run(run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [cut_short.model_id]
    for uri in ("models:/retry-clf/1", f"runs:/{run_id}/model"):
        assert list(client.load_model(uri).predict([[0.0], [3.0]])) == [0, 1]
    other = tracker.log_saved_model(run_id, folder, "model", None, event_id=event + "-2")
    assert other["model_id"] != cut_short.model_id  # another event is another model
    client.close()


def test_start_run_waits_at_most_offline_after_on_a_server_that_never_answers(
    repo: Path, short_lived_agents: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A listening socket that never replies costs one tracking.offline_after wait; a
    server that cannot be reached (its SYNs dropped) one tracking.connect_after wait; a
    refused port nothing; every run starts offline, with one warning each client."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel accepts connections; nothing ever answers
    hung_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)  # room for one connection, which the filler takes: further SYNs dropped
    filler = socket.create_connection(full.getsockname(), timeout=5)
    unreachable_url = f"http://127.0.0.1:{full.getsockname()[1]}"
    clients = []
    try:
        for uri, bound, limit in (
            (hung_url, 1.0, 1.5),
            (unreachable_url, 5.0, 1.2),  # connect_after (0.4 s), not offline_after
            (f"http://127.0.0.1:{free_port()}", 2, 0.5),
        ):
            client = MLOpsClient.from_project(
                "away", repo_root=repo, tracking_uri=uri, tracking={"offline_after": bound}
            )
            clients.append(client)
            started = time.monotonic()
            with client.start_run(run_name="quick") as run:
                waited = time.monotonic() - started
                client.log_metrics({"x": 1.0}, step=0)
            assert isinstance(run, LocalRun), uri
            assert waited < limit, (uri, waited)
            with client.start_run(run_name="at-once") as second:
                pass
            assert isinstance(second, LocalRun)
    finally:
        silent.close()
        filler.close()
        full.close()
        for client in clients:
            client.close(timeout=0)
    warnings = [r.getMessage() for r in caplog.records if "is logged locally" in r.getMessage()]
    assert len(warnings) == 3  # one per client
    assert "until 2 s after the last process logging to this project" in warnings[2]
    assert f"MLOPS_TRACKING_URI={hung_url} " in warnings[0] and "sync -p away" in warnings[0]
    assert "no answer within 1 s" in warnings[0]
    assert "no connection within 0.4 s" in warnings[1]


def test_offline_always_logs_locally_with_the_server_up_then_delivers(
    repo: Path, mlflow_server: MlflowServer
) -> None:
    client = MLOpsClient.from_project(
        "always", repo_root=repo, tracking_uri=mlflow_server.url, tracking={"offline": "always"}
    )
    with client.start_run(run_name="forced", tags={"t": "1"}) as run:
        assert isinstance(run, LocalRun)
        client.log_params({"lr": 0.1})
        for i in range(500):
            client.log_metrics({"x": float(i)}, step=i)
    assert client.sync(timeout=120)["complete"] == 1
    mlflow = MlflowClient(mlflow_server.url)
    (got,) = mlflow.search_runs(
        [mlflow.get_experiment_by_name("always").experiment_id],
        f"tags.`{LOCAL_RUN_TAG}` = '{run.info.run_id}'",
    )
    assert got.info.run_name == "forced" and got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1"} and got.data.tags["t"] == "1"
    assert [s for s, _, _ in history(mlflow_server.url, got.info.run_id, "x")] == list(range(500))
    assert client.records.run(run.info.run_id)["run_id"] == got.info.run_id
    client.close()


def test_a_param_relogged_with_another_value_offline_fails_at_the_call(
    repo: Path, mlflow_server: MlflowServer
) -> None:
    """Param conflicts are caught at the call in an offline run, before anything is logged."""
    client = MLOpsClient.from_project(
        "conflict", repo_root=repo, tracking_uri=mlflow_server.url, tracking={"offline": "always"}
    )
    with client.start_run(run_name="clash") as run:
        client.log_params({"lr": 0.1, "epochs": 3})
        folder = client.workspace.path("wal") / run.info.run_id
        written = {p.name: p.stat().st_size for p in folder.glob("*.wal")}
        with pytest.raises(InvalidInputError, match=r"'lr' is already '0\.1'") as err:
            client.log_params({"batch": 8, "lr": 0.2})
        assert err.value.hint and err.value.operation == "log_params"
        assert {p.name: p.stat().st_size for p in folder.glob("*.wal")} == written
        client.log_params({"lr": 0.1})  # the same value again is no conflict
    assert client.sync(timeout=120)["complete"] == 1
    server_id = client.records.run(run.info.run_id)["run_id"]
    assert MlflowClient(mlflow_server.url).get_run(server_id).data.params == {
        "lr": "0.1",
        "epochs": "3",
    }
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


def _agent_pid(wal: Path) -> int | None:
    """The pid the store's delivery agent last published (None before any)."""
    for path in wal.glob("agent-*.json"):
        with contextlib.suppress(ValueError):
            return json.loads(path.read_text()).get("pid")
    return None


def _until_agent(wal: Path, watcher: subprocess.Popen[str], pid: int, within: float) -> None:
    """Wait until ``pid`` is the published agent; fail naming why the watcher is not."""
    deadline = time.monotonic() + within
    while _agent_pid(wal) != pid:
        if watcher.poll() is not None or time.monotonic() > deadline:
            _, err = watcher.communicate(timeout=30) if watcher.poll() is not None else ("", "")
            pytest.fail(
                f"agent {_agent_pid(wal)}, not {pid}, after {within} s; the watcher "
                f"{watcher.pid} exited with {watcher.returncode}: {err[-3000:]}"
            )
        time.sleep(0.2)


@contextlib.contextmanager
def _watching(repo: Path) -> Iterator[subprocess.Popen[str]]:
    """``mlops sync --watch`` on project ``watched``, stopped with Ctrl-C at the end."""
    import signal

    watcher = subprocess.Popen(
        with_terminal_signals(
            [MLOPS, "sync", "--watch", "-p", "watched", "--repo-root", str(repo)]
        ),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield watcher
    finally:
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGINT)
            watcher.communicate(timeout=30)


def _train_watched(repo: Path, name: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WATCHED, str(repo), name],
        capture_output=True,
        text=True,
        env=child_env(**env),
        timeout=180,
        check=True,
    )
    return done.stdout.strip()


def _assert_delivered(repo: Path, run_ids: list[str]) -> None:
    client = MLOpsClient.from_project("watched", repo_root=repo)
    for run_id in run_ids:
        steps = [s for s, _, _ in history(client.settings.tracking_uri, run_id, "x")]
        assert steps == list(range(3000))
    client.close()


def test_sync_watch_delivers_runs_other_processes_write(repo: Path) -> None:
    wal = repo / ".mlops" / "workspaces" / "watched" / "wal"
    with _watching(repo) as watcher:
        _until_agent(wal, watcher, watcher.pid, within=60)  # before anyone writes
        run_ids = [_train_watched(repo, name) for name in ("first", "second")]
        _assert_delivered(repo, run_ids)
        _until_agent(wal, watcher, watcher.pid, within=0)  # it delivered them, and still runs


def test_sync_watch_started_beside_a_running_agent_takes_over_when_it_exits(
    repo: Path,
) -> None:
    wal = repo / ".mlops" / "workspaces" / "watched" / "wal"
    # The trainer's own agent stays 15 s after it (it was 3 s: a plain sync returns).
    first = _train_watched(repo, "first", MLOPS_TELEMETRY_AGENT_IDLE="15")
    background = _agent_pid(wal)
    assert background is not None
    with _watching(repo) as watcher:
        time.sleep(3)
        assert watcher.poll() is None, "the watch ended while another agent delivered"
        assert _agent_pid(wal) == background
        _until_agent(wal, watcher, watcher.pid, within=60)  # once that agent went idle
        second = _train_watched(repo, "second")
        _assert_delivered(repo, [first, second])
        _until_agent(wal, watcher, watcher.pid, within=0)
