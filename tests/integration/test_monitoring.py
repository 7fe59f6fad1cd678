"""Monitoring end to end on real Evidently, real MLflow (sqlite) and a real HTTP receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.client import MLOpsClient
from mlops.errors import ComponentUnavailableError, InvalidInputError, NotFoundError
from tests.conftest import WebhookReceiver, free_port

try:
    from tests.conftest import uninstall
except ModuleNotFoundError:  # plain `pytest` does not put the repository root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.conftest import uninstall

pytestmark = pytest.mark.integration

FEATURES = [f"f{i}" for i in range(8)]
SHIFTED = ["f1", "f4", "f6"]


def batch(
    n: int = 3000, seed: int = 0, shift: tuple[str, ...] = (), flip: bool = False
) -> pd.DataFrame:
    """Features f0..f7 and `cat`; label `y` from f0 + f3; `pred` right ~93 % (or flipped)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f: rng.normal(1.5 if f in shift else 0.0, 1.0, n) for f in FEATURES})
    df["cat"] = rng.choice(["a", "b", "c"], n)
    df["y"] = (df["f0"] + df["f3"] > 0).astype(int)
    pred = (df["f0"] + df["f3"] + rng.normal(0, 0.3, n) > 0).astype(int)
    df["pred"] = 1 - pred if flip else pred
    return df


def make_client(repo: Path, **monitoring: Any) -> MLOpsClient:
    return MLOpsClient.from_project("test-project", repo_root=repo, monitoring=monitoring)


@pytest.fixture
def watched(client: MLOpsClient) -> MLOpsClient:
    """The test client with a classification reference set."""
    client.set_reference_data(batch(seed=1), target_column="y", prediction_column="pred")
    return client


def test_same_distribution_shows_no_drift_and_keeps_history(watched: MLOpsClient) -> None:
    result = watched.monitor_predictions(batch(seed=2), latency_ms=[10.0, 20.0], memory_mb=300.0)
    assert result["drift_detected"] is False and result["drifted_columns"] == []
    assert set(result["column_drift"]) == {*FEATURES, "cat"}
    assert all(
        not d["drifted"] and d["method"] and d["threshold"] > 0
        for d in result["column_drift"].values()
    )
    assert (
        result["target_drift"]["drifted"] is False
        and result["prediction_drift"]["drifted"] is False
    )
    accuracy = result["performance"]["accuracy"]
    assert accuracy["passed"] and 0.85 < accuracy["value"] < 1 and 0.85 < accuracy["reference"] < 1
    assert accuracy["value"] >= accuracy["limit"] == pytest.approx(accuracy["reference"] * 0.9)
    assert result["task"] == "classification" and set(result["performance"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
    }
    assert (
        result["alerts"] == []
        and result["retraining_suggested"] is False
        and result["reasons"] == []
    )
    assert result["sampled"]["applied"] is False and result["latency_ms"] == 15.0
    assert json.loads(json.dumps(result)) == result
    report = Path(result["report_path"])
    assert (
        report.parent == watched.get_workspace_path("reports")
        and "<html" in report.read_text()[:2000]
    )

    second = watched.monitor_predictions(batch(seed=3))
    assert (result["check"], second["check"]) == (1, 2)
    assert_evidently_history(watched, second, snapshots=2)
    assert_mlflow_steps(watched, second["mlflow_run_id"], steps=[1, 2])


def assert_evidently_history(client: MLOpsClient, result: dict[str, Any], snapshots: int) -> None:
    from evidently.ui.workspace import Workspace

    workspace = Workspace(result["evidently"]["workspace"])
    projects = workspace.search_project("test-project")
    assert [str(p.id) for p in projects] == [result["evidently"]["project_id"]]
    assert len(workspace.list_runs(projects[0].id)) == snapshots
    stored = workspace.get_run(projects[0].id, result["evidently"]["snapshot_id"])
    assert (
        stored is not None and stored.metadata["reference_digest"] == result["reference"]["digest"]
    )


def assert_mlflow_steps(client: MLOpsClient, run_id: str, steps: list[int]) -> None:
    assert client.flush(30)
    run = client.mlflow_client.get_run(run_id)
    assert run.data.tags["mlops.run_type"] == "monitoring"
    history = client.mlflow_client.get_metric_history(run_id, "drift_share")
    assert sorted(m.step for m in history) == steps
    assert "perf/accuracy" in run.data.metrics and "drift/f0" in run.data.metrics


def test_three_shifted_columns_drift_exactly(watched: MLOpsClient) -> None:
    result = watched.monitor_predictions(batch(seed=4, shift=tuple(SHIFTED)))
    assert result["drifted_columns"] == SHIFTED
    assert {c for c, d in result["column_drift"].items() if d["drifted"]} == set(SHIFTED)
    assert result["drift_share"] == pytest.approx(3 / 9)
    # 3 of 9 columns stay under Evidently's dataset-drift share of 0.5.
    assert result["drift_detected"] is False and result["alerts"] == []


def test_dataset_drift_alerts_and_suggests_retraining(repo: Path) -> None:
    client = make_client(repo, drift_share=0.3)
    try:
        client.set_reference_data(batch(seed=1), "y", "pred")
        events: list[dict[str, Any]] = []
        client.add_alert_handler(events.append)
        result = client.monitor_predictions(batch(seed=5, shift=tuple(SHIFTED)))
        assert client.flush(30)
        logged = client.mlflow_client.get_metric_history(
            result["mlflow_run_id"], "drift_share_limit"
        )
    finally:
        client.close(timeout=10)
    assert result["drift_detected"] is True and result["retraining_suggested"] is True
    # 3 of 9 drifted: over the 0.3 this check was judged with, which is logged with it.
    assert result["limits"]["drift_share"] == 0.3
    assert [(m.step, m.value) for m in logged] == [(result["check"], 0.3)]
    assert [a["type"] for a in result["alerts"]] == ["data_drift"]
    assert "f1, f4, f6" in result["reasons"][0]
    assert len(events) == 1 and events[0]["alerts"] == result["alerts"]


def test_flipped_labels_drop_performance_and_suggest_retraining(watched: MLOpsClient) -> None:
    result = watched.monitor_predictions(batch(seed=6, flip=True))
    accuracy = result["performance"]["accuracy"]
    assert accuracy["value"] < 0.2 and accuracy["reference"] > 0.85 and accuracy["passed"] is False
    assert accuracy["value"] < accuracy["limit"] == pytest.approx(accuracy["reference"] * 0.9)
    assert result["retraining_suggested"] is True
    assert any(r.startswith("accuracy fell from") for r in result["reasons"])
    assert {a["type"] for a in result["alerts"]} == {"performance_drop"}
    assert result["drift_detected"] is False  # the inputs did not move, only the quality


def test_regression_task_and_sampling(repo: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000), "z": rng.normal(0, 1, 5000)})
    ref["price"] = 3 * ref["x"] + rng.normal(0, 0.1, 5000)
    ref["guess"] = 3 * ref["x"]
    bad = ref.assign(guess=-3 * ref["x"])
    client = make_client(repo, max_rows=1000, seed=7)
    try:
        info = client.set_reference_data(ref, "price", "guess")
        result = client.monitor_predictions(bad)
    finally:
        client.close(timeout=10)
    assert info["task"] == "regression" and info["rows"] == 1000 and info["sampled"]["applied"]
    assert result["sampled"]["applied"] and result["sampled"]["rows_used"] == 1000
    assert result["sampled"]["seed"] == 7 and result["rows"] == 1000
    assert set(result["performance"]) == {"rmse", "mae", "r2"}
    assert result["performance"]["rmse"]["passed"] is False and result["retraining_suggested"]


def test_multiclass_string_labels_and_renamed_roles(repo: Path) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    ref["kind"] = np.where(ref["x"] < -0.5, "low", np.where(ref["x"] > 0.5, "high", "mid"))
    ref["guess"] = ref["kind"]
    current = ref.rename(columns={"kind": "label", "guess": "model_out"})
    client = make_client(repo)
    try:
        info = client.set_reference_data(ref, "kind", "guess")
        result = client.monitor_predictions(current, "label", "model_out")
    finally:
        client.close(timeout=10)
    assert info["task"] == "classification" and info["labels"] == ["high", "low", "mid"]
    assert result["performance"]["accuracy"] == {
        "value": 1.0,
        "reference": 1.0,
        "passed": True,
        "higher_is_better": True,
        "limit": pytest.approx(0.9),  # performance_drop 0.1 below the reference
    }
    assert result["target_drift"]["drifted"] is False and result["skipped"] == []


def test_latency_and_memory_limits_alert(repo: Path) -> None:
    client = make_client(repo, latency_ms=50, memory_mb=100)
    try:
        client.set_reference_data(batch(seed=1), "y", "pred")
        result = client.monitor_predictions(batch(seed=2), latency_ms=80, memory_mb=50)
    finally:
        client.close(timeout=10)
    assert [a["type"] for a in result["alerts"]] == ["latency"]
    assert result["retraining_suggested"] is False


def test_webhook_receives_the_alert(repo: Path, receiver: WebhookReceiver) -> None:
    client = make_client(repo, webhook_url=receiver.url, webhook_timeout=2)
    try:
        client.set_reference_data(batch(seed=1), "y", "pred")
        result = client.monitor_predictions(batch(seed=6, flip=True))
        assert client.flush_alerts(20)
    finally:
        client.close(timeout=10)
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["project"] == "test-project" and body["check"] == result["check"]
    assert body["alerts"] == result["alerts"] and body["retraining_suggested"] is True


def test_dead_webhook_does_not_break_the_check(repo: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    client = make_client(repo, webhook_url=url, webhook_timeout=1, webhook_retries=2)
    try:
        client.set_reference_data(batch(seed=1), "y", "pred")
        result = client.monitor_predictions(batch(seed=6, flip=True))
        assert result["alerts"] and result["warnings"] == []
        assert client.flush_alerts(20)  # gave up after its bounded attempts
    finally:
        client.close(timeout=10)


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "from mlops.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args, "--project", "test-project", "--repo-root", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=repo,
    )


def test_reference_survives_a_new_process_and_cli(watched: MLOpsClient, repo: Path) -> None:
    quiet, shifted = repo / "quiet.parquet", repo / "shifted.csv"
    batch(seed=2).to_parquet(quiet)
    batch(seed=7, shift=("f0", "f1", "f2", "f3", "f4")).to_csv(shifted, index=False)
    ok = run_cli(repo, "monitor", "check", str(quiet), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["drift_detected"] is False
    drift = run_cli(repo, "monitor", "check", str(shifted))
    assert drift.returncode == 1, drift.stderr
    assert (
        "DRIFT" in drift.stdout
        and "alert data_drift" in drift.stdout
        and "retraining" in drift.stdout
    )
    assert watched.monitor_predictions(batch(seed=3))["check"] == 3  # one counter across processes


def test_cli_set_reference_and_errors(repo: Path) -> None:
    ref = repo / "ref.csv"
    batch(seed=1).to_csv(ref, index=False)
    none = run_cli(repo, "monitor", "check", str(ref))
    assert none.returncode == 1 and "set-reference" in none.stderr
    done = run_cli(
        repo, "monitor", "set-reference", str(ref), "--target", "y", "--prediction", "pred"
    )
    assert done.returncode == 0, done.stderr
    assert "3,000 rows" in done.stdout and "task: classification" in done.stdout
    missing = run_cli(repo, "monitor", "check", str(repo / "nope.csv"))
    assert missing.returncode == 1 and "not a readable data file" in missing.stderr


def test_monitor_ui_serves_the_history(watched: MLOpsClient, repo: Path) -> None:
    assert watched.monitor_predictions(batch(seed=2))["check"] == 1
    port = free_port()
    code = "from mlops.cli import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "monitor",
            "ui",
            "--port",
            str(port),
            "--repo-root",
            str(repo),
            "--project",
            "test-project",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=repo,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        projects = wait_for_json(f"{base}/projects", proc, deadline=90)
        project_id = projects[0]["id"]
        dashboard = wait_for_json(f"{base}/v2/dashboards/{project_id}", proc, deadline=10)
        snapshots = wait_for_json(f"{base}/projects/{project_id}/snapshots", proc, deadline=10)
    finally:
        proc.terminate()
        proc.wait(15)
    assert [p["name"] for p in projects] == ["test-project"]
    assert [p["title"] for p in dashboard["panels"]] == [
        "Share of drifted features",
        "Target and prediction drift score",
        "Classification quality",
    ]
    assert [snap["name"] for snap in snapshots] == ["check 1"]
    assert snapshots[0]["metadata"]["mlops_project"] == "test-project"


def wait_for_json(url: str, proc: subprocess.Popen[bytes], deadline: float) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {deadline} s")


# bad input ----------------------------------------------------------------------------------


def test_no_reference_set(client: MLOpsClient) -> None:
    with pytest.raises(NotFoundError, match="no reference data") as err:
        client.monitor_predictions(batch())
    assert "set_reference_data" in str(err.value.hint)


def test_missing_columns(watched: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match=r"lacks 2 column.*'f2', 'cat'") as err:
        watched.monitor_predictions(batch().drop(columns=["f2", "cat"]))
    assert err.value.operation == "monitor_predictions" and err.value.hint


def test_different_dtypes(watched: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match="f0: reference float64, now object") as err:
        watched.monitor_predictions(batch().astype({"f0": str}))
    assert "astype" in str(err.value.hint)


@pytest.mark.parametrize("frame", [pd.DataFrame(), batch().iloc[:0]], ids=["no-columns", "no-rows"])
def test_empty_frames(client: MLOpsClient, frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="DataFrame is empty"):
        client.set_reference_data(frame)
    client.set_reference_data(batch(seed=1), "y", "pred")
    with pytest.raises(InvalidInputError, match="DataFrame is empty"):
        client.monitor_predictions(frame)


def test_all_nan_column(watched: MLOpsClient, client: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match=r"all NaN.*'f5'") as err:
        watched.monitor_predictions(batch().assign(f5=np.nan))
    assert "drop or fill" in str(err.value.hint)
    with pytest.raises(InvalidInputError, match=r"all NaN.*'f5'"):
        client.set_reference_data(batch().assign(f5=np.nan))


def test_wrong_types_and_roles(client: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match="expected a pandas DataFrame, got list"):
        client.set_reference_data([[1, 2]])
    with pytest.raises(InvalidInputError, match="target_column 'label'"):
        client.set_reference_data(batch(), target_column="label")
    assert not (client.get_workspace_path("monitoring") / "reference.json").exists()


def test_evidently_not_installed(client: MLOpsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    uninstall(monkeypatch, "evidently")
    with pytest.raises(ComponentUnavailableError, match="evidently is not installed") as err:
        client.set_reference_data(batch())
    assert "mlops[monitoring]" in str(err.value.hint)
    with pytest.raises(ComponentUnavailableError):
        client.monitor_predictions(batch())
