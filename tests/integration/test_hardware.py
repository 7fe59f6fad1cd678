"""System metrics and Apple Silicon readings on real MLflow, read back with MLflow's client.

The psutil probe runs for real on this Linux machine; NVIDIA and Apple Silicon
are not here, so those probes stay out (their parsers are tested on captures in
tests/hardware/).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import ConfigurationError, InvalidInputError

pytestmark = pytest.mark.integration

INTERVAL = 0.2


@pytest.fixture
def hw_client(repo: Path) -> Iterator[MLOpsClient]:
    """A client sampling every 0.2 s when asked to."""
    client = MLOpsClient.from_project("hw-project", repo_root=repo, hardware_interval=INTERVAL)
    yield client
    client.close(timeout=10)


def _reader(client: MLOpsClient) -> MlflowClient:
    return MlflowClient(tracking_uri=client.settings.tracking_uri)


def _sampler_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("mlops-system-metrics")]


def _busy(seconds: float) -> int:
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += sum(range(1000))
    return n


def test_a_run_with_system_metrics_ends_with_them_in_mlflow(hw_client: MLOpsClient) -> None:
    with hw_client.start_run(run_name="sampled", log_system_metrics=True) as run:
        _busy(1.3)
        assert len(_sampler_threads()) == 1
    assert _sampler_threads() == []  # stopped with the run
    mlflow = _reader(hw_client)
    run_id = run.info.run_id
    cpu = mlflow.get_metric_history(run_id, "system/cpu_utilization_percentage")
    memory = mlflow.get_metric_history(run_id, "system/system_memory_usage_megabytes")
    assert len(memory) >= 4  # one at start, then every 0.2 s for 1.3 s
    assert sorted(m.step for m in memory) == list(range(len(memory)))
    assert len(cpu) >= 3 and all(0 <= m.value <= 100 for m in cpu)
    assert max(m.value for m in cpu) > 20  # the busy loop shows
    used_mb = psutil.virtual_memory().used / 1e6
    assert memory[-1].value == pytest.approx(used_mb, rel=0.5)
    stored = mlflow.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert stored.data.tags["mlops.hardware.cpu_cores_logical"] == str(psutil.cpu_count())
    assert "system/disk_usage_percentage" in stored.data.metrics


def test_default_comes_from_config(repo: Path) -> None:
    on = MLOpsClient.from_project(
        "hw-on", repo_root=repo, hardware_system_metrics=True, hardware_interval=INTERVAL
    )
    try:
        with on.start_run() as sampled:
            time.sleep(0.3)
        with on.start_run(log_system_metrics=False) as explicit_off:
            time.sleep(0.3)
    finally:
        on.close(timeout=10)
    mlflow = _reader(on)
    assert (
        "system/system_memory_usage_megabytes" in mlflow.get_run(sampled.info.run_id).data.metrics
    )
    assert not mlflow.get_run(explicit_off.info.run_id).data.metrics


def test_off_by_default(hw_client: MLOpsClient) -> None:
    with hw_client.start_run() as run:
        assert _sampler_threads() == []
        hw_client.log_metrics({"loss": 1.0})
    stored = _reader(hw_client).get_run(run.info.run_id)
    assert set(stored.data.metrics) == {"loss"}
    assert not any(k.startswith("mlops.hardware.") for k in stored.data.tags)


def test_the_sampler_stops_when_the_run_fails(hw_client: MLOpsClient) -> None:
    with (
        pytest.raises(RuntimeError, match="diverged"),
        hw_client.start_run(log_system_metrics=True) as run,
    ):
        time.sleep(0.3)
        raise RuntimeError("loss diverged")
    assert _sampler_threads() == []
    stored = _reader(hw_client).get_run(run.info.run_id)
    assert stored.info.status == "FAILED"
    assert "system/system_memory_usage_megabytes" in stored.data.metrics


def test_a_bad_interval_is_a_configuration_error(repo: Path) -> None:
    bad = MLOpsClient.from_project("hw-bad", repo_root=repo, hardware_interval=0)
    try:
        with (
            pytest.raises(ConfigurationError, match=r"hardware\.interval") as err,
            bad.start_run(log_system_metrics=True),
        ):
            pass
        assert "MLOPS_SYSTEM_METRICS_INTERVAL" in (err.value.hint or "")
    finally:
        bad.close(timeout=10)
    assert _sampler_threads() == []


def test_log_apple_silicon_metrics_numbers_and_thermal_state(hw_client: MLOpsClient) -> None:
    with hw_client.start_run() as run:
        hw_client.log_apple_silicon_metrics(
            {"mps_utilization": 87.5, "memory_gb": 14.2, "thermal_state": "nominal"}, step=1
        )
        hw_client.log_apple_silicon_metrics({"thermal_state": "Heavy"}, step=2)
    mlflow = _reader(hw_client)
    run_id = run.info.run_id
    thermal = mlflow.get_metric_history(run_id, "apple_silicon/thermal_state")
    assert sorted((m.step, m.value) for m in thermal) == [(1, 0.0), (2, 2.0)]
    [mps] = mlflow.get_metric_history(run_id, "apple_silicon/mps_utilization")
    assert (mps.step, mps.value) == (1, 87.5)
    assert mlflow.get_run(run_id).data.tags["apple_silicon/thermal_state"] == "Heavy"


def test_log_apple_silicon_metrics_rejects_before_writing(hw_client: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match="active run"):
        hw_client.log_apple_silicon_metrics({"gpu": 1.0})
    with hw_client.start_run() as run:
        with pytest.raises(InvalidInputError, match="'turbo'"):
            hw_client.log_apple_silicon_metrics({"gpu": 50.0, "mode": "turbo"})
        with pytest.raises(InvalidInputError):
            hw_client.log_apple_silicon_metrics({"gpu": [50.0], "thermal_state": "fair"})
    stored = _reader(hw_client).get_run(run.info.run_id)
    assert not stored.data.metrics
    assert not any(k.startswith("apple_silicon/") for k in stored.data.tags)


def test_hardware_report_lists_this_machine(hw_client: MLOpsClient) -> None:
    report = hw_client.hardware_report()
    # No GPU, not a Mac; the MLX probe is listed wherever MLX is installed.
    expected = ["cpu", "mlx"] if importlib.util.find_spec("mlx") is not None else ["cpu"]
    assert report["probes"] == expected
    assert "system/cpu_utilization_percentage" in report["metrics"]
    assert report["host"]["cpu_cores_logical"] == str(psutil.cpu_count())
