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
MLX_MEMORY = [f"system/mlx_{kind}_memory_megabytes" for kind in ("active", "peak", "cache")]

#: Python code that makes MLX and mlx-lm look not installed in its process: an import
#: system finder answering for them as a missing distribution would.
WITHOUT_MLX = """
import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("mlx", "mlx_lm"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    return env | {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"} | (extra or {})


def _mlops(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def without_mlx(code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``args`` in a Python process where MLX is not installed."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MLX + code, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_install_hint(done: subprocess.CompletedProcess[str], operation: str) -> None:
    """Exit 1 and one line naming what is missing and the command that installs it."""
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: [mlx.{operation}] mlx-lm is not installed"), lines[0]
    assert 'pip install "mlops[mlx]"  (or: uv sync --extra mlx)' in lines[0]


def test_lora_train_records_everything(repo: Path, tiny_base: Path, lora_data: Path) -> None:
    shutil.copytree(lora_data, repo / "data")
    argv = ["--model", str(tiny_base), "--data", "data", *TRAIN_ARGS, "--adapter-path", "out"]
    sampled = {"MLOPS_SYSTEM_METRICS": "false", "MLOPS_SYSTEM_METRICS_INTERVAL": "0.2"}
    done = _mlops(
        ["lora", "train", "-p", "lora", "--json", "--system-metrics", "--", *argv], repo, sampled
    )
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
    # --system-metrics (over hardware.system_metrics = false): real MLX's allocator, sampled.
    for name in MLX_MEMORY:
        assert run.data.metrics[name] >= 0, name
    assert run.data.metrics["system/mlx_peak_memory_megabytes"] > 0
    client.close()


def test_a_hub_id_goes_to_mlx_lm_unchanged(repo: Path, lora_data: Path, tmp_path: Path) -> None:
    """An id not in the cache is mlx-lm's to download; offline, the refusal is mlx-lm's."""
    shutil.copytree(lora_data, repo / "data")
    hub = str(tmp_path / "hf")  # an empty Hugging Face cache
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": hub, "HF_HUB_CACHE": f"{hub}/hub"}
    offline |= {"MLOPS_SYSTEM_METRICS": "true", "MLOPS_SYSTEM_METRICS_INTERVAL": "0.2"}
    argv = ["--model", "mlops-tests/not-downloaded", "--train", "--data", "data", "--iters", "2"]
    done = _mlops(["lora", "train", "-p", "lora", "--no-data-version", "--", *argv], repo, offline)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cannot be found: it is not a model folder" not in done.stderr  # not refused by us
    # huggingface_hub's own refusal to download while offline, raised inside mlx-lm's load.
    assert "error: [mlx.lora_train] LocalEntryNotFoundError: " in done.stderr
    assert "HF_HUB_OFFLINE" in done.stderr
    assert "the run is marked FAILED" in done.stderr
    client = MLOpsClient.from_project("lora", repo_root=repo)
    [run] = client.search_runs()
    assert run.info.status == "FAILED"
    assert run.data.params["model"] == "mlops-tests/not-downloaded"
    # hardware.system_metrics = true and no flag: the run was sampled, MLX memory included.
    assert run.data.metrics["system/mlx_active_memory_megabytes"] >= 0
    assert not list((Path(hub) / "hub").glob("models--*"))  # nothing was downloaded
    client.close()


def test_without_the_mlx_extra_lora_train_says_how_to_install(repo: Path, tiny_base: Path) -> None:
    argv = ["lora", "train", "-p", "lora", "--", "--model", str(tiny_base), "--train"]
    done = without_mlx("from mlops.cli import main\nmain()", argv, repo)
    assert_install_hint(done, "lora_train")
    client = MLOpsClient.from_project("lora", repo_root=repo)
    assert client.search_runs() == []  # nothing was written
    client.close()


def test_lora_train_rejects_bad_input_before_a_run(repo: Path, tiny_base: Path) -> None:
    missing = _mlops(
        ["lora", "train", "-p", "lora", "--", "--model", "./no/such-model", "--train"], repo
    )
    assert missing.returncode == 1
    assert "base model './no/such-model' cannot be found" in missing.stderr
    client = MLOpsClient.from_project("lora", repo_root=repo)
    cases = {
        "base model '/no/such/model' cannot be found": ["--model", "/no/such/model", "--train"],
        "base model '~/no-such-model' cannot be found": ["--model", "~/no-such-model", "--train"],
        f"base model {str(repo)!r} cannot be found": ["--model", str(repo), "--train"],
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
