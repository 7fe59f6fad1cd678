"""The metric pipeline against real MLflow: volume, crashes, outages, concurrency, replays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import MLOpsClientError
from mlops.telemetry.wal import Segment, iter_segments
from tests.conftest import free_port

from .conftest import MlflowServer

pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).with_name("mlops"))


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    metrics = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in metrics)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(extra)
    return env


def test_100k_points_all_arrive_once(client: MLOpsClient) -> None:
    with client.start_run() as run:
        for i in range(100_000):
            client.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
    got = history(client.settings.tracking_uri, run.info.run_id, "loss")
    assert len(got) == 100_000
    assert [s for s, _ in got] == list(range(100_000))
    assert (
        MlflowClient(client.settings.tracking_uri).get_run(run.info.run_id).info.status
        == "FINISHED"
    )
    assert list(iter_segments(client.workspace.root / "wal")) == []  # delivered WAL is removed


CRASHER = """
import sys
from mlops.client import create_client
client = create_client("crashy", repo_root=sys.argv[1])
with client.start_run(run_name="doomed") as run:
    print("RUN", run.info.run_id, flush=True)
    i = 0
    while True:
        client.log_metrics({"loss": float(i), "acc": i / 1e6}, step=i)
        print(i, flush=True)
        i += 1
"""


def test_points_survive_kill_9_and_the_agent_delivers_them_alone(repo: Path) -> None:
    from mlops.telemetry.agent import _alive

    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(repo)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[1]
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 3000:
            break
    client = MLOpsClient.from_project("crashy", repo_root=repo)
    deadline = time.monotonic() + 60
    while not (agent := client.get_status(check_reachable=False)["telemetry"]["agent"])["pid"]:
        assert time.monotonic() < deadline, "no delivery agent published its state"
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert agent["pid"] != proc.pid  # delivery runs in its own process, which outlives this one
    assert _alive(agent["pid"])
    # Nobody runs `mlops sync`: the agent adopts the dead writer's segment and drains it.
    deadline = time.monotonic() + 120
    while client.get_status(check_reachable=False)["telemetry"]["pending_bytes"]:
        assert time.monotonic() < deadline, "the agent did not drain the dead writer's log"
        time.sleep(0.5)
    uri = client.settings.tracking_uri
    steps = [s for s, _ in history(uri, run_id, "loss")]
    assert steps[: last + 1] == list(range(last + 1))  # every returned call is there
    assert len(steps) == len(set(steps))  # and none twice
    assert len(history(uri, run_id, "acc")) == len(steps)
    deadline = time.monotonic() + 30  # the data is in: the dead run is marked ended
    while (status := MlflowClient(uri).get_run(run_id).info.status) == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status == "KILLED"
    client.close()


def test_replay_of_delivered_points_does_not_duplicate(client: MLOpsClient) -> None:
    with client.start_run() as run:
        pass
    wal = client.workspace.path("wal")
    lines = "".join(f"loss\t{i / 10!r}\t{i}\t{1_700_000_000_000 + i}\n" for i in range(50))
    for n in range(2):  # the second copy is a replay whose acknowledgement was lost
        seg = Segment.create(wal, run.info.run_id, f"replayer{n}", 0)
        seg.append(lines.encode())
        seg.close(delete=False)
        result = client.sync(timeout=30)
        assert result["complete"] == 1
    got = history(client.settings.tracking_uri, run.info.run_id, "loss")
    assert got == [(i, i / 10) for i in range(50)]


def test_threads_logging_to_one_run(client: MLOpsClient) -> None:
    def work(t: int) -> None:
        for i in range(5000):
            client.log_metrics({f"thread_{t}": float(i)}, step=i)

    with client.start_run() as run:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    for t in range(6):
        got = history(client.settings.tracking_uri, run.info.run_id, f"thread_{t}")
        assert [s for s, _ in got] == list(range(5000))


WORKER = """
import sys
from mlops.client import create_client
client = create_client("many", repo_root=sys.argv[1])
with client.start_run(run_name=sys.argv[2]) as run:
    for i in range(3000):
        client.log_metrics({"x": float(i)}, step=i)
print(run.info.run_id)
"""


def test_processes_of_one_project(repo: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(repo), f"w{n}"],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for n in range(3)
    ]
    run_ids = [p.communicate(timeout=180)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    uri = MLOpsClient.from_project("many", repo_root=repo).settings.tracking_uri
    for run_id in run_ids:
        assert [s for s, _ in history(uri, run_id, "x")] == list(range(3000))


def test_log_size_limit_raises_instead_of_dropping(repo: Path) -> None:
    from mlops.telemetry.agent import agent_lock, store_key

    client = MLOpsClient.from_project("tiny", repo_root=repo, telemetry={"max_log_mb": 0.01})
    wal = client.workspace.path("wal")
    logged = 0
    # Holding the agent's lock keeps any agent from delivering: the backlog only grows.
    with agent_lock(wal, store_key(client.settings), wait=False) as held:
        assert held
        with client.start_run() as run:
            with pytest.raises(MLOpsClientError, match="max_log_mb") as info:
                for i in range(10_000):
                    client.log_metrics({"loss": float(i)}, step=i)
                    logged += 1
            assert "mlops sync" in (info.value.hint or "")
            client._telemetry().mark_offline(run.info.run_id)  # leave without waiting
    assert 0 < logged < 10_000
    assert client.sync(timeout=60)["complete"] == 1
    got = history(client.settings.tracking_uri, run.info.run_id, "loss")
    assert len(got) == logged  # everything accepted before the limit arrived
    client.close()


@pytest.fixture
def own_server(postgres_uri: str, tmp_path: Path) -> MlflowServer:
    """A PostgreSQL-backed server this test may stop and restart."""
    server = MlflowServer(tmp_path / "srv", free_port(), postgres_uri)
    server.start()
    yield server
    server.stop()


def test_server_outage_never_blocks_and_loses_nothing(repo: Path, own_server: MlflowServer) -> None:
    client = MLOpsClient.from_project(
        "outage", repo_root=repo, tracking_uri=own_server.url, telemetry={"flush_timeout": 90}
    )
    slowest = 0.0
    step = 0

    def log_for(seconds: float) -> None:
        nonlocal slowest, step
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            client.log_metrics({"loss": float(step)}, step=step)
            slowest = max(slowest, time.perf_counter() - t)
            step += 1
            time.sleep(0.0005)

    with client.start_run() as run:
        log_for(1.5)
        own_server.stop()
        log_for(6.0)  # down: the agent backs off, points pile up on disk
        assert client.get_status(check_reachable=False)["telemetry"]["agent"]["state"] == "offline"
        own_server.start()
        log_for(1.5)
    got = history(own_server.url, run.info.run_id, "loss")
    assert [s for s, _ in got] == list(range(step))
    print(f"slowest log_metrics call: {slowest * 1000:.2f} ms over {step} calls")
    assert slowest < 0.025  # never a network wait: only the WAL write (and GIL scheduling)
    client.close()


NEVER_BACK = """
import sys, time
from mlops.client import create_client
client = create_client("gone", repo_root=sys.argv[1], tracking_uri=sys.argv[2])
with client.start_run(run_name="orphan") as run:
    print(run.info.run_id, flush=True)
    for i in range(2000):
        client.log_metrics({"loss": float(i)}, step=i)
    sys.stdin.readline()  # the test stops the server now
    for i in range(2000, 4000):
        client.log_metrics({"loss": float(i)}, step=i)
    print("LOOP DONE", flush=True)
"""


def test_server_never_back_exits_within_bound_then_sync(
    repo: Path, own_server: MlflowServer
) -> None:
    env = child_env(MLOPS_TELEMETRY_FLUSH_TIMEOUT="3")
    proc = subprocess.Popen(
        [sys.executable, "-c", NEVER_BACK, str(repo), own_server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    own_server.stop()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "LOOP DONE"
    started = time.monotonic()
    proc.wait(timeout=60)
    took = time.monotonic() - started
    assert took < 3 + 1 + 1.5  # run end and interpreter exit together: one flush bound
    status = subprocess.run(
        [MLOPS, "status", "-p", "gone", "--repo-root", str(repo), "--json"],
        capture_output=True,
        text=True,
        env=child_env(MLOPS_TRACKING_URI=own_server.url),
        check=False,
    )
    assert '"pending_bytes": 0' not in status.stdout
    own_server.start()
    out = subprocess.run(
        [MLOPS, "sync", "-p", "gone", "--repo-root", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=child_env(MLOPS_TRACKING_URI=own_server.url),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert [s for s, _ in history(own_server.url, run_id, "loss")] == list(range(4000))
    run = MlflowClient(own_server.url).get_run(run_id)
    assert run.info.status == "FINISHED"  # the end was recorded in the WAL and replayed
    assert "mlops.pending_data" not in run.data.tags


def test_unreachable_tracking_uri_fails_fast_and_redacted(repo: Path) -> None:
    port = free_port()
    client = MLOpsClient.from_project(
        "dead",
        repo_root=repo,
        tracking_uri=f"http://bob:s3cret@127.0.0.1:{port}",
        tracking={"timeout": 2, "offline": "never"},
    )
    started = time.monotonic()
    with pytest.raises(MLOpsClientError) as info, client.start_run():
        pass
    assert time.monotonic() - started < 6
    text = str(info.value)
    assert "s3cret" not in text and "bob:***@" in text
    assert "mlops server start" in (info.value.hint or "")


def test_a_long_log_is_read_in_stretches_in_order(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent reads a segment a stretch at a time; nothing is lost or doubled between."""
    from mlops.telemetry import agent, delivery

    monkeypatch.setattr(delivery, "_READ_RECORDS", 700)
    monkeypatch.setattr(agent, "spawn", lambda *a, **k: None)  # this process delivers, below
    client = MLOpsClient.from_project("stretch", repo_root=repo, telemetry={"batch_size": 300})
    with client.start_run() as run:
        client._telemetry().mark_offline(run.info.run_id)  # leave without waiting
        for i in range(6000):
            client.log_metrics({"loss": float(i)}, step=i)
    assert client.sync(timeout=120)["complete"] == 1
    got = history(client.settings.tracking_uri, run.info.run_id, "loss")
    assert got == [(i, float(i)) for i in range(6000)]


def test_orphan_with_a_torn_last_line_is_delivered(client: MLOpsClient) -> None:
    with client.start_run() as run:
        pass
    seg = Segment.create(client.workspace.path("wal"), run.info.run_id, "crashed", 0)
    seg.append(
        b"".join(f"acc\t{i / 4!r}\t{i}\t{1_700_000_000_000 + i}\n".encode() for i in range(40))
    )
    seg.append(b"acc\t0.9\t40\t17000")  # the write a kill -9 cut short: its call never returned
    seg.close(delete=False)
    result = client.sync(timeout=30)
    assert result["complete"] == 1 and result["pending"] == 0
    got = history(client.settings.tracking_uri, run.info.run_id, "acc")
    assert got == [(i, i / 4) for i in range(40)]
    assert list(iter_segments(client.workspace.root / "wal")) == []


def test_a_run_left_open_on_purpose_is_not_marked_killed(repo: Path) -> None:
    """Runs fed without start_run (e.g. the monitoring run) stay RUNNING across clients."""
    first = MLOpsClient.from_project("open", repo_root=repo)
    run = first._tracker().create_run("kept-open", {}, None, None)
    first._submit_metrics({"drift_share": 0.1}, step=1, run_id=run.info.run_id)
    first.close()
    second = MLOpsClient.from_project("open", repo_root=repo)
    result = second.sync(timeout=20)
    assert result["complete"] == 1 and result["segments"] == 0
    got = MlflowClient(second.settings.tracking_uri).get_run(run.info.run_id)
    assert got.info.status == "RUNNING" and got.data.metrics == {"drift_share": 0.1}
    second.close()
