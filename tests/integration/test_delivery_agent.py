"""The delivery agent's life against a real `mlflow server` on PostgreSQL that goes away.

Real training processes, a real agent process, a real server: the agent stays up while a
trainer writes through an outage, delivers an offline backlog on its own once the server
is back, gives up after ``telemetry.agent_linger`` (then `mlops sync` delivers), and a
backlog goes to a server with several workers in concurrent batches, each point once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.telemetry.agent import _alive, agent_files, read_status, store_key
from mlops.telemetry.runs import offline_info
from tests.conftest import free_port
from tests.faults.proxy import FaultProxy

from .conftest import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
MLOPS = str(Path(sys.executable).with_name("mlops"))
FAST_RETRY = {"MLOPS_TELEMETRY_MAX_BACKOFF": "1", "MLOPS_TELEMETRY_AGENT_IDLE": "1"}


def child_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | extra


@dataclass
class WorkersServer(MlflowServer):
    """The shared fixture's server, with a number of worker processes."""

    workers: int = 1

    def settings(self):  # type: ignore[no-untyped-def]
        from mlops.config import load_settings

        server = {"backend_store_uri": self.backend, "port": self.port, "workers": self.workers}
        return load_settings("server-admin", repo_root=self.root, overrides={"server": server})


@pytest.fixture
def later_server(postgres_uri: str, tmp_path: Path) -> Iterator[MlflowServer]:
    """A PostgreSQL-backed server on a port of its own, not started yet."""
    server = MlflowServer(tmp_path / "srv", free_port(), postgres_uri)
    yield server
    server.stop()


def agent_state(repo: Path, project: str, uri: str) -> dict[str, Any]:
    """What the project's agent for store ``uri`` last published."""
    client = MLOpsClient.from_project(project, repo_root=repo, tracking_uri=uri)
    return read_status(
        agent_files(client.workspace.path("wal"), store_key(client.settings))["status"]
    )


def wait_for(what: str, check: Any, seconds: float, every: float = 0.3) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := check()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(every)
    return got


def server_run(uri: str, experiment: str, local_id: str) -> Any:
    """The server's run created from offline run ``local_id`` (None while there is none)."""
    mlflow = MlflowClient(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        return None
    found = mlflow.search_runs([exp.experiment_id], f"tags.`mlops.local_run_id` = '{local_id}'")
    return found[0] if found else None


def steps_of(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in MlflowClient(uri).get_metric_history(run_id, key))


PACED = """
import sys, time
from mlops.client import create_client
client = create_client("steady", repo_root=sys.argv[1], tracking_uri=sys.argv[2])
with client.start_run(run_name="through") as run:
    print(run.info.run_id, flush=True)
    i = 0
    while True:
        client.log_metrics({"loss": float(i)}, step=i)
        i += 1
        if i % 200 == 0:
            print(i, flush=True)
            if sys.stdin.readline().strip() == "stop":
                break
        time.sleep(0.002)
print("LOGGED", i, flush=True)
"""


def test_agent_stays_up_through_an_outage_while_a_trainer_writes(
    repo: Path, later_server: MlflowServer
) -> None:
    later_server.start()
    uri = later_server.url
    proc = subprocess.Popen(
        [sys.executable, "-c", PACED, str(repo), uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(**FAST_RETRY, MLOPS_TELEMETRY_FLUSH_TIMEOUT="90"),
    )
    assert proc.stdin is not None and proc.stdout is not None
    run_id = proc.stdout.readline().strip()

    def more(lines: int = 1) -> None:  # let the trainer log 200 points per line
        for _ in range(lines):
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            proc.stdout.readline()  # type: ignore[union-attr]

    try:
        more(3)
        pid = wait_for("the agent", lambda: agent_state(repo, "steady", uri).get("pid"), 60)
        later_server.stop()
        seen_offline = False
        started = time.monotonic()
        # Longer than agent_idle (1 s) many times over, and until the agent saw the outage.
        while time.monotonic() - started < 8 or not seen_offline:
            assert time.monotonic() - started < 90, "the agent never reported the outage"
            more()
            state = agent_state(repo, "steady", uri)
            assert state["pid"] == pid and _alive(pid), state  # the same agent, all along
            seen_offline = seen_offline or state["state"] == "offline"
            time.sleep(0.2)
        later_server.start()
        more(3)
        assert agent_state(repo, "steady", uri)["pid"] == pid and _alive(pid)
        proc.stdin.write("stop\n")
        proc.stdin.close()
        logged = int(proc.stdout.read().split()[-1])
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert steps_of(uri, run_id, "loss") == [(i, float(i)) for i in range(logged)]
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"


OFFLINE = """
import sys
from mlops.client import create_client
client = create_client("lone", repo_root=sys.argv[1], tracking_uri=sys.argv[2])
with client.start_run(run_name="left-behind") as run:
    client.log_params({"lr": 0.01})
    for i in range(3000):
        client.log_metrics({"loss": i / 3000}, step=i)
print(run.info.run_id, flush=True)
"""


def log_offline_and_exit(repo: Path, uri: str, **env: str) -> tuple[str, int]:
    """Run a trainer against a server that is not up; its local run id and agent pid."""
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE, str(repo), uri],
        capture_output=True,
        text=True,
        env=child_env(**FAST_RETRY, **env),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    local_id = done.stdout.split()[-1]
    wal = MLOpsClient.from_project("lone", repo_root=repo, tracking_uri=uri).workspace.path("wal")
    assert offline_info(wal / local_id) is not None  # a run made here, to be created later
    pid = wait_for("the agent", lambda: agent_state(repo, "lone", uri).get("pid"), 60)
    return local_id, pid


def test_agent_delivers_an_offline_backlog_on_its_own_when_the_server_comes_back(
    repo: Path, later_server: MlflowServer
) -> None:
    uri = later_server.url
    local_id, pid = log_offline_and_exit(repo, uri, MLOPS_TELEMETRY_AGENT_LINGER="600")
    time.sleep(4)  # the trainer is gone, idle (1 s) is long past: it lingers, retrying
    assert _alive(pid) and agent_state(repo, "lone", uri)["state"] == "offline"
    later_server.start()  # and nobody runs `mlops sync`
    run = wait_for("the run on the server", lambda: server_run(uri, "lone", local_id), 120, 1)
    wait_for(
        "every point",
        lambda: len(steps_of(uri, run.info.run_id, "loss")) == 3000,
        120,
        1,
    )
    assert steps_of(uri, run.info.run_id, "loss") == [(i, i / 3000) for i in range(3000)]
    ended = lambda: server_run(uri, "lone", local_id).info.status == "FINISHED"  # noqa: E731
    wait_for("the run's end", ended, 60, 1)
    assert MlflowClient(uri).get_run(run.info.run_id).data.params == {"lr": "0.01"}
    wait_for("the agent to exit, all delivered", lambda: not _alive(pid), 60)
    assert agent_state(repo, "lone", uri)["state"] == "stopped"


def test_agent_gives_up_after_agent_linger_and_mlops_sync_delivers(
    repo: Path, later_server: MlflowServer
) -> None:
    uri = later_server.url
    local_id, pid = log_offline_and_exit(repo, uri, MLOPS_TELEMETRY_AGENT_LINGER="2")
    wait_for("the agent to give up", lambda: not _alive(pid), 60)
    assert agent_state(repo, "lone", uri)["state"] == "stopped"
    client = MLOpsClient.from_project("lone", repo_root=repo, tracking_uri=uri)
    telemetry = client.get_status(check_reachable=False)["telemetry"]
    assert telemetry["agent"]["state"] == "not running" and telemetry["agent"]["pid"] is None
    assert telemetry["offline_runs"] == [local_id] and telemetry["pending_points"] == 3000
    later_server.start()
    time.sleep(3)  # no agent runs: nothing arrives by itself
    assert server_run(uri, "lone", local_id) is None
    out = subprocess.run(
        [MLOPS, "sync", "-p", "lone", "--repo-root", str(repo)],
        capture_output=True,
        text=True,
        env=child_env(MLOPS_TRACKING_URI=uri, COLUMNS="200"),
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3,000 metric points" in out.stdout and "points/s" in out.stdout
    run = server_run(uri, "lone", local_id)
    assert run.info.status == "FINISHED"
    assert steps_of(uri, run.info.run_id, "loss") == [(i, i / 3000) for i in range(3000)]
    client.close()


@pytest.fixture
def four_workers(postgres_uri: str, tmp_path: Path) -> Iterator[MlflowServer]:
    """A PostgreSQL-backed server with four worker processes."""
    server = WorkersServer(tmp_path / "srv4", free_port(), postgres_uri, workers=4)
    server.start()
    yield server
    server.stop()


def test_backlog_goes_to_a_four_worker_server_in_concurrent_batches_each_point_once(
    repo: Path,
    four_workers: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    from mlops.telemetry import agent

    monkeypatch.setattr(agent, "spawn", lambda *a, **k: None)  # `mlops sync` delivers, below
    # Through a relay that counts requests awaiting their answer: the project's tracking
    # URI is the relay's (the log belongs to the store it names).
    proxy = FaultProxy(("127.0.0.1", four_workers.port)).start()
    request.addfinalizer(proxy.close)
    uri = proxy.url
    client = MLOpsClient.from_project(
        "wide", repo_root=repo, tracking_uri=uri, tracking={"offline": "always"}
    )
    keys = ("loss", "acc")
    with client.start_run(run_name="backlog") as run:
        for i in range(25_000):
            client.log_metrics({"loss": 1.0 / (i + 1), "acc": i / 25_000}, step=i)
    client.close()
    assert server_run(uri, "wide", run.info.run_id) is None  # all of it is still on disk
    out = subprocess.run(
        [MLOPS, "sync", "-p", "wide", "--repo-root", str(repo), "--timeout", "30"],
        capture_output=True,
        text=True,
        env=child_env(MLOPS_TRACKING_URI=uri, MLOPS_TELEMETRY_CONCURRENCY="4", COLUMNS="200"),
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "50,000 metric points" in out.stdout, out.stdout
    assert proxy.peak_in_flight >= 2, "no two batches were ever at the server at once"
    print(out.stdout, "peak requests in flight:", proxy.peak_in_flight)
    server = server_run(uri, "wide", run.info.run_id)
    assert server.info.status == "FINISHED"
    for key in keys:
        got = MlflowClient(uri).get_metric_history(server.info.run_id, key)
        assert len(got) == 25_000  # once each
        expected = {i: 1.0 / (i + 1) if key == "loss" else i / 25_000 for i in range(25_000)}
        assert {m.step: m.value for m in got} == expected
    state = json.loads(
        subprocess.run(
            [MLOPS, "status", "-p", "wide", "--repo-root", str(repo), "--json"],
            capture_output=True,
            text=True,
            env=child_env(MLOPS_TRACKING_URI=uri),
            timeout=120,
            check=True,
        ).stdout
    )
    assert state["telemetry"]["pending_bytes"] == 0 and state["telemetry"]["offline_runs"] == []
