"""`mlops demo lora` end to end in a fresh folder, its artifacts checked in their tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.demo_lora import MODEL_NAME, PROJECT
from tests.mlx.test_lora_cli import assert_install_hint, without_mlx

pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).with_name("mlops"))


def test_demo_lora_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    folder = tmp_path / "lora-demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    done = subprocess.run(
        [MLOPS, "demo", "lora", "--dir", str(folder)],
        capture_output=True,
        text=True,
        env=env | {"COLUMNS": "200"},
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "served = mlx_lm.generate │ yes" in out
    assert "DRIFT" in out and "data_drift" in out
    client = MLOpsClient.from_project(PROJECT, repo_root=folder)
    reader = MlflowClient(client.settings.tracking_uri)
    version = reader.get_model_version(MODEL_NAME, "1")
    run = reader.get_run(version.run_id)
    assert run.data.params["iters"] == "30" and "train_loss" in run.data.metrics
    assert "system/mlx_peak_memory_megabytes" in run.data.metrics
    chain = client.lineage(MODEL_NAME, "1")
    assert [d["path"] for d in chain["data"]] == ["data/lora"]
    assert [b["tag"] for b in chain["bentos"]] == [f"{MODEL_NAME}:v1.0"]
    assert chain["monitoring"]["checks"] == 1
    assert (folder / "models" / "tiny-llama" / "model.safetensors").is_file()
    client.close()


def test_without_the_mlx_extra_the_demo_says_how_to_install(tmp_path: Path) -> None:
    folder = tmp_path / "lora-demo"
    done = without_mlx(
        "from mlops.cli import main\nmain()", ["demo", "lora", "--dir", str(folder)], tmp_path
    )
    assert_install_hint(done, "demo_lora")
    assert not folder.exists()  # nothing was written
