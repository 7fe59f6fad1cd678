"""`mlops lora train -- <mlx_lm lora args>`: mlx-lm's own training, recorded in a run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.integrations.mlx_lm_cli import run_lora_training
from tests.mlx.conftest import TRAIN_ARGS

pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).with_name("mlops"))


def _mlops(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return subprocess.run(
        [MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_lora_train_records_everything(repo: Path, tiny_base: Path, lora_data: Path) -> None:
    shutil.copytree(lora_data, repo / "data")
    argv = ["--model", str(tiny_base), "--data", "data", *TRAIN_ARGS, "--adapter-path", "out"]
    done = _mlops(["lora", "train", "-p", "lora", "--json", "--", *argv], repo)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    assert (result["train_reports"], result["val_reports"]) == (6, 4)
    assert (repo / "out" / "adapters.safetensors").is_file()

    client = MLOpsClient.from_project("lora", repo_root=repo)
    reader = MlflowClient(client.settings.tracking_uri)
    run = reader.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    # Every argument mlx-lm ran with is a param; every report a metric point at its iteration.
    params = run.data.params
    assert params["iters"] == "30" and params["num_layers"] == "-1"
    assert params["lora_parameters.rank"] == "8" and params["report_to"] == "mlops"
    steps = [m.step for m in reader.get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [5, 10, 15, 20, 25, 30]
    assert run.data.metrics["train_loss"] == pytest.approx(result["last"]["train_loss"])
    # The data folder is versioned with DVC on the run.
    versions = client.get_data_versions(run.info.run_id)
    assert [v["path"] for v in versions] == ["data"]
    assert versions[0]["md5"] == result["data_version"]["md5"] and (repo / "data.dvc").is_file()
    # The adapter is logged as a model of the run and registered.
    version = reader.get_model_version("lora_adapter", result["registered_version"])
    assert version.run_id == run.info.run_id
    client.close()


def test_lora_train_rejects_bad_input_before_a_run(repo: Path, tiny_base: Path) -> None:
    missing = _mlops(
        ["lora", "train", "-p", "lora", "--", "--model", "no/such-model", "--train"], repo
    )
    assert missing.returncode == 1
    assert "base model 'no/such-model' cannot be found" in missing.stderr
    client = MLOpsClient.from_project("lora", repo_root=repo)
    cases = {
        "needs --train": ["--model", str(tiny_base)],
        "unrecognized arguments: --bogus": ["--train", "--bogus"],
        "--num-layers 16 is more than the 2 layers": ["--model", str(tiny_base), "--train"],
        "has no train.jsonl": ["--model", str(tiny_base), "--train", "--num-layers", "2"],
    }
    for message, argv in cases.items():
        with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
            run_lora_training(client, [*argv, "--data", str(repo)] if "jsonl" in message else argv)
        assert info.value.component == "mlx" and info.value.hint
    assert client.search_runs() == []  # nothing was written
    client.close()
