"""The core CLI through typer's runner and as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mlops.cli import app
from mlops.client import MLOpsClient
from mlops.tags import RUN_TYPE_TAG
from mlops.telemetry.sync import pending_on_disk
from mlops.telemetry.wal import Segment, encode_event
from tests.conftest import free_port

pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).with_name("mlops"))
runner = CliRunner()


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return out | extra


def test_init_writes_a_config_that_loads(repo: Path) -> None:
    result = runner.invoke(app, ["init", str(repo)])
    assert result.exit_code == 0, result.output
    assert "[tracking]" in (repo / "mlops.toml").read_text()
    again = runner.invoke(app, ["init", str(repo)])
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(app, ["init", str(repo), "--force"]).exit_code == 0
    assert (repo / ".gitignore").read_text().splitlines().count(".mlops/") == 1
    MLOpsClient.from_project("p", repo_root=repo).settings  # noqa: B018 - loads without error


def test_status_json_and_table(repo: Path) -> None:
    result = runner.invoke(app, ["status", "-p", "demo", "--repo-root", str(repo), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["components"]["tracking"]["reachable"] is True
    assert info["components"]["tracking"]["installed"] is True
    assert info["telemetry"]["pending_bytes"] == 0
    assert "cpu" in info["hardware"]["probes"]
    table = runner.invoke(app, ["status", "-p", "demo", "--repo-root", str(repo)])
    assert "tracking URI sqlite:///" in table.output and "versioning" in table.output


def test_status_redacts_the_password(repo: Path) -> None:
    uri = f"http://alice:topsecret@127.0.0.1:{free_port()}"
    (repo / "mlops.toml").write_text(f'[tracking]\nuri = "{uri}"\ntimeout = 1\n')
    result = runner.invoke(app, ["status", "-p", "x", "--repo-root", str(repo)])
    assert "topsecret" not in result.output and "alice:***@" in result.output
    assert "no" in result.output  # not reachable


def test_status_table_lists_an_offline_run_and_whether_the_agent_runs(repo: Path) -> None:
    from mlops.telemetry.agent import _alive

    (repo / "mlops.toml").write_text(
        f'[tracking]\nuri = "http://127.0.0.1:{free_port()}"\ntimeout = 1\n'
        "[telemetry]\nagent_idle = 1\nagent_linger = 4\nmax_backoff = 1\n"
    )
    client = MLOpsClient.from_project("away", repo_root=repo)
    with client.start_run(run_name="offline") as run:  # nothing listens: it starts offline
        for i in range(250):
            client.log_metrics({"loss": float(i), "acc": i / 250}, step=i)
    local_id = run.info.run_id
    argv = ["status", "-p", "away", "--repo-root", str(repo)]
    deadline = time.monotonic() + 60
    while not (pid := client.get_status(check_reachable=False)["telemetry"]["agent"]["pid"]):
        assert time.monotonic() < deadline, "no delivery agent published its state"
        time.sleep(0.3)
    table = runner.invoke(app, argv, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "waiting to be delivered: 500 metric points" in table.output
    assert f"  offline run {local_id} (not on the server yet)" in table.output
    assert f"delivery agent: pid {pid}, offline" in table.output  # retrying, server away
    assert "mlops sync -p away" in table.output
    client.close()  # the last writer is gone: agent_linger later the agent gives up
    deadline = time.monotonic() + 60
    while _alive(pid):
        assert time.monotonic() < deadline, "the agent did not exit after agent_linger"
        time.sleep(0.3)
    table = runner.invoke(app, argv, env={"COLUMNS": "200"})
    assert "delivery agent: not running" in table.output and f"pid {pid}" not in table.output
    assert f"  offline run {local_id} (not on the server yet)" in table.output
    info = json.loads(runner.invoke(app, [*argv, "--json"]).stdout)["telemetry"]
    assert info["agent"]["state"] == "not running" and info["agent"]["pid"] is None
    assert info["offline_runs"] == [local_id] and info["pending_points"] == 500


def sync_outlasting_its_timeout(
    argv: list[str],
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`mlops sync --timeout 2` on a backlog that takes longer than twice that: it succeeds."""
    started = time.monotonic()
    out = subprocess.run(
        [MLOPS, "sync", *argv, "--timeout", "2"],
        capture_output=True,
        text=True,
        env=env(COLUMNS="200"),
        timeout=600,
        check=False,
    )
    took = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert took > 2 * 2, f"the backlog took {took:.1f} s: too small to outlast --timeout 2"
    return out, took


def test_sync_outlasts_its_timeout_while_it_progresses_and_counts_points(repo: Path) -> None:
    client = MLOpsClient.from_project("backlog", repo_root=repo)
    n = 60_000  # several times longer to deliver on sqlite than the --timeout below
    run_id = orphan_backlog(client, n)
    argv = ["-p", "backlog", "--repo-root", str(repo)]
    table = runner.invoke(app, ["status", *argv], env={"COLUMNS": "200"})
    assert f"waiting to be delivered: {n:,} metric points" in table.output
    assert f"  pending run {run_id} (data not delivered yet)" in table.output
    assert "delivery agent: not running" in table.output
    out, took = sync_outlasting_its_timeout(argv)
    summary = out.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"all delivered: {n + 1:,} records ({n:,} metric points, 1 other)")
    seconds = float(summary.split(" in ")[1].split(" s, ")[0])
    rate = float(summary.rsplit(", ", 1)[1].removesuffix(" points/s").replace(",", ""))
    assert 2 < seconds < took and rate == pytest.approx(n / seconds, rel=0.05)  # points/s
    assert_delivered(client, run_id, n)
    client.close()


def test_sync_waits_past_its_timeout_for_a_running_agent_that_progresses(repo: Path) -> None:
    from mlops.telemetry import agent

    client = MLOpsClient.from_project("waiter", repo_root=repo, telemetry={"agent_idle": 1})
    n = 60_000  # several times longer to deliver on sqlite than the --timeout below
    run_id = orphan_backlog(client, n)
    wal = client.workspace.path("wal")
    backlog = pending_on_disk(wal)["bytes"]
    background = agent.spawn(client.settings, wal)  # the agent a writer would have started
    assert background is not None
    deadline = time.monotonic() + 60
    while pending_on_disk(wal)["bytes"] == backlog:  # it started delivering
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.05)
    out, _ = sync_outlasting_its_timeout(["-p", "waiter", "--repo-root", str(repo)])
    assert "all delivered:" in out.stdout and "points/s" in out.stdout
    state = agent.read_status(agent.agent_files(wal, agent.store_key(client.settings))["status"])
    assert state["pid"] == background.pid  # the agent delivered; the sync only waited
    assert_delivered(client, run_id, n)
    assert background.wait(timeout=60) == 0  # idle with nothing left: it exits
    client.close()


def orphan_backlog(client: MLOpsClient, n: int) -> str:
    """A run on the project's sqlite store with ``n`` points left by a writer that is gone."""
    experiment = client._tracker().experiment_id  # the project's experiment, made here
    run_id = MlflowClient(client.settings.tracking_uri).create_run(experiment).info.run_id
    lines = "".join(f"loss\t{i / 7!r}\t{i}\t{1_700_000_000_000 + i}\n" for i in range(n))
    segment = Segment.create(client.workspace.path("wal"), run_id, "gone", 0)
    segment.append(lines.encode() + encode_event("tags", {"tags": {"k": "v"}}))
    segment.close(delete=False)  # no agent was woken: it waits, pending
    return run_id


def assert_delivered(client: MLOpsClient, run_id: str, n: int) -> None:
    mlflow = MlflowClient(client.settings.tracking_uri)
    got = mlflow.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in got) == [(i, i / 7) for i in range(n)]
    assert mlflow.get_run(run_id).data.tags["k"] == "v"


def test_runs_list_shows_runs_and_metrics(repo: Path) -> None:
    client = MLOpsClient.from_project("lister", repo_root=repo)
    with client.start_run(run_name="first"):
        client.log_metrics({"loss": 0.25}, step=1)
    client.close()
    result = runner.invoke(app, ["runs", "list", "-p", "lister", "--repo-root", str(repo)])
    assert result.exit_code == 0, result.output
    assert "first" in result.output and "loss=0.25" in result.output and "FINISHED" in result.output


def test_runs_list_fits_80_columns_and_hides_the_monitoring_run(repo: Path) -> None:
    client = MLOpsClient.from_project("lister", repo_root=repo, hardware={"interval": 0.2})
    with client.start_run(run_name="demo-train", log_system_metrics=True) as train:
        for epoch in range(3):
            metrics = {"train_accuracy": 0.9, "val_accuracy": 0.93, "val_log_loss": 0.2512}
            client.log_metrics(metrics, step=epoch)
    with client.start_run(run_name="a-very-long-run-name-for-the-learning-rate-sweep-001") as sweep:
        client.log_metrics(
            {
                "validation_top_5_categorical_accuracy_on_the_holdout_set": 0.987654,
                "train_loss": 123456789.123,
                "val_loss": 0.5,
                "lr": 1e-4,
                "epoch": 10.0,
            }
        )
    with client.start_run(run_name="monitoring", tags={RUN_TYPE_TAG: "monitoring"}) as monitor:
        client.log_metrics({"drift_share": 0.4, "dataset_drift": 1.0})
    client.close()
    logged = MlflowClient(f"sqlite:///{repo}/.mlops/mlflow.db").get_run(train.info.run_id)
    assert any(k.startswith("system/") for k in logged.data.metrics)  # there, and never listed

    def listing(*extra: str, columns: int = 80) -> list[str]:
        proc = subprocess.run(
            [MLOPS, "runs", "list", "-p", "lister", "--repo-root", str(repo), *extra],
            capture_output=True,
            text=True,
            env=env(COLUMNS=str(columns)),
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    lines = listing()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0] == "project lister: 2 runs (1 monitoring run hidden: --all shows it)"
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"demo-train", "a-very-long-r…"}  # newest first, long name cut
    demo, long = rows["demo-train"], rows["a-very-long-r…"]
    assert "val_log_loss=0.2512, val_accuracy=0.93 +1" in demo  # loss, then accuracy
    assert demo.endswith(f"  {train.info.run_id[:8]}")  # the run id shortened
    assert "val_loss=0.5, validation_top_5_ca…=0.9877 +3" in long  # long name cut, value kept
    assert long.endswith(f"  {sweep.info.run_id[:8]}")
    assert not any("system/" in line or "monitoring" in line.split()[0] for line in lines[1:])

    everything = listing("--all")
    assert all(len(line) <= 80 for line in everything), everything
    assert everything[0] == "project lister: 3 runs"
    (shown,) = [line for line in everything if line.startswith("monitoring ")]
    assert shown.endswith(monitor.info.run_id[:8]) and "dataset_drift=1" in shown

    wide = listing(columns=200)
    assert all(len(line) <= 200 for line in wide)
    assert any(line.endswith(train.info.run_id) for line in wide)  # the full id fits
    assert any("a-very-long-run-name-fo…" in line for line in wide)
    assert "val_log_loss=0.2512, val_accuracy=0.93, train_accuracy=0.9" in "\n".join(wide)


def test_errors_are_one_line_and_exit_1(repo: Path) -> None:
    result = runner.invoke(app, ["status", "-p", "../x", "--repo-root", str(repo)])
    assert result.exit_code == 1
    assert "invalid project name" in result.output and "Traceback" not in result.output
    proc = subprocess.run(
        [MLOPS, "runs", "list", "-p", "../x"],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip().count("\n") == 0 and "[workspace.validate_project_name]" in proc.stderr
    )
    debug = subprocess.run(
        [MLOPS, "--debug", "runs", "list", "-p", "../x"],
        capture_output=True,
        text=True,
        env=env(),
        check=False,
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_server_start_sends_a_second_projects_runs_to_postgres(
    repo: Path, postgres_uri: str
) -> None:
    port = free_port()
    base = [MLOPS, "server"]
    root = ["--repo-root", str(repo)]
    started = subprocess.run(
        [*base, "start", *root, "--backend-store-uri", postgres_uri, "--port", str(port)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        assert f"MLOPS_TRACKING_URI=http://127.0.0.1:{port}" in started.stdout
        status = subprocess.run(
            [*base, "status", *root], capture_output=True, text=True, env=env(), check=False
        )
        assert status.returncode == 0 and "running: True" in status.stdout
        assert "postgresql+psycopg2://postgres@127.0.0.1" in status.stdout
        state = json.loads((repo / ".mlops" / "server" / "server.json").read_text())
        children = subprocess.run(
            ["pgrep", "-g", str(state["pid"])], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) <= 4  # server, uvicorn worker; no MLflow job runners
        url = f"http://127.0.0.1:{port}"
        script = (
            "from mlops.client import create_client\n"
            "c = create_client('second-project')\n"
            "with c.start_run(run_name='remote') as r:\n"
            "    c.log_params({'a': 1}); c.log_metrics({'m': 2.0}, step=3)\n"
            "print(r.info.run_id)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=repo,
            env=env(MLOPS_TRACKING_URI=url),
            timeout=120,
            check=True,
        )
        got = MlflowClient(url).get_run(run.stdout.strip().splitlines()[-1])
        assert got.data.metrics == {"m": 2.0} and got.data.params == {"a": "1"}
        assert MlflowClient(url).get_experiment(got.info.experiment_id).name == "second-project"
        assert not (repo / ".mlops" / "mlflow.db").exists()  # nothing went to the local store
    finally:
        stopped = subprocess.run(
            [*base, "stop", *root], capture_output=True, text=True, env=env(), check=False
        )
    assert stopped.returncode == 0 and "stopped server pid" in stopped.stdout
    after = subprocess.run(
        [*base, "status", *root], capture_output=True, text=True, env=env(), check=False
    )
    assert after.returncode == 1
