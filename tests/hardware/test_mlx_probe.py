"""The MLX memory probe off the Mac: available with MLX installed, reporting once MLX is loaded."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from tests.conftest import uninstall

from mlops.hardware import detect_probes
from mlops.hardware.mlx import MLXMemoryProbe

APPLE_SILICON = sys.platform == "darwin" and platform.machine() == "arm64"
pytestmark = pytest.mark.skipif(APPLE_SILICON, reason="the Apple Silicon probe reports MLX there")

#: A run that starts before its code imports MLX: the probe must pick MLX up when it loads.
LATE_MLX = """
import sys
import time

from mlops.client import MLOpsClient

client = MLOpsClient.from_project("late-mlx", repo_root=sys.argv[1], hardware={"interval": 0.1})
with client.start_run(log_system_metrics=True) as run:
    time.sleep(0.5)
    assert "mlx.core" not in sys.modules  # nothing of mlops loaded it
    import mlx.core as mx

    kept = mx.ones((512, 512))
    mx.eval(kept)
    mx.eval(mx.ones((256, 256)) * 2)  # a freed buffer stays in MLX's cache
    time.sleep(0.6)
client.close()
print(run.info.run_id)
"""


def test_available_with_mlx_installed_and_silent_until_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("mlx.core", reason="the mlx extra is not installed (uv sync --extra mlx)")
    monkeypatch.delitem(sys.modules, "mlx.core")  # as in a process that has not loaded MLX
    probe = MLXMemoryProbe()
    assert probe.available() is True
    assert "mlx" in [p.name for p in detect_probes()]
    assert probe.sample() == {}
    assert "mlx.core" not in sys.modules  # the probe never imports MLX itself


def test_not_available_without_mlx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "mlx.core", raising=False)
    uninstall(monkeypatch, "mlx")
    assert MLXMemoryProbe().available() is False
    assert "mlx" not in [p.name for p in detect_probes()]


def test_a_run_samples_mlx_from_when_it_is_loaded(repo: Path) -> None:
    pytest.importorskip("mlx.core", reason="the mlx extra is not installed (uv sync --extra mlx)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    done = subprocess.run(
        [sys.executable, "-c", LATE_MLX, str(repo)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.strip().splitlines()[-1]
    from mlops.client import MLOpsClient

    client = MLOpsClient.from_project("late-mlx", repo_root=repo)
    reader = MlflowClient(client.settings.tracking_uri)
    client.close()

    def steps(name: str) -> list[int]:
        return sorted(m.step for m in reader.get_metric_history(run_id, name))

    cpu = steps("system/cpu_utilization_percentage")
    for kind in ("active", "peak", "cache"):
        mlx = steps(f"system/mlx_{kind}_memory_megabytes")
        assert mlx, kind
        assert mlx[0] > cpu[0], kind  # nothing before MLX was loaded, then every sample
        assert mlx == [s for s in cpu if s >= mlx[0]], kind
    peak = reader.get_metric_history(run_id, "system/mlx_peak_memory_megabytes")
    assert max(m.value for m in peak) >= 512 * 512 * 4 / 1e6  # the float32 array it kept
