"""The mlx-lm training callback logs exactly the reports mlx-lm made, and MLX memory is sampled."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.integrations.mlx_lm import MLOpsCallback, training_params
from tests.mlx.test_lora_cli import without_mlx

pytestmark = pytest.mark.integration


class Recorder:
    """A plain mlx-lm callback: what the trainer reported, untouched."""

    def __init__(self) -> None:
        self.train: list[dict[str, Any]] = []
        self.val: list[dict[str, Any]] = []

    def on_train_loss_report(self, info: dict[str, Any]) -> None:
        self.train.append(dict(info))

    def on_val_loss_report(self, info: dict[str, Any]) -> None:
        self.val.append(dict(info))


def _train(base: Path, data: Path, callback: Any, adapter_file: Path) -> Any:
    import mlx.optimizers as optim
    from mlx_lm import load
    from mlx_lm.tuner.datasets import CacheDataset, load_dataset
    from mlx_lm.tuner.trainer import TrainingArgs, train
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, tokenizer = load(str(base))
    options = types.SimpleNamespace(data=str(data), train=True, test=False, hf_dataset=False)
    train_set, valid_set, _ = load_dataset(options, tokenizer)
    model.freeze()
    lora = {"rank": 4, "dropout": 0.0, "scale": 10.0}
    linear_to_lora_layers(model, 2, lora)
    args = TrainingArgs(
        batch_size=4, iters=30, steps_per_report=5, steps_per_eval=10, adapter_file=adapter_file
    )
    callback.log_params(training_params(args, lora))
    train(
        model,
        optim.Adam(learning_rate=1e-2),
        CacheDataset(train_set),
        CacheDataset(valid_set),
        args,
        training_callback=callback,
    )
    return args


def test_callback_logs_exactly_what_mlx_lm_reported(
    repo: Path, tiny_base: Path, lora_data: Path
) -> None:
    client = MLOpsClient.from_project("lora", repo_root=repo, hardware={"interval": 0.2})
    recorder = Recorder()
    with client.start_run(run_name="lora", log_system_metrics=True) as run:
        callback = MLOpsCallback(client, wrapped_callback=recorder)
        _train(tiny_base, lora_data, callback, repo / "adapters.safetensors")
    client.close()
    assert (len(recorder.train), len(recorder.val)) == (6, 4)  # every 5 of 30; 0, 9, 19, 29
    assert (callback.train_reports, callback.val_reports) == (6, 4)
    reader = MlflowClient(client.settings.tracking_uri)
    for key in recorder.train[0]:
        if key == "iteration":
            continue
        history = sorted((m.step, m.value) for m in reader.get_metric_history(run.info.run_id, key))
        assert history == [(r["iteration"], float(r[key])) for r in recorder.train], key
    for key in ("val_loss", "val_time"):
        history = sorted((m.step, m.value) for m in reader.get_metric_history(run.info.run_id, key))
        assert history == [(r["iteration"], float(r[key])) for r in recorder.val], key
    stored = reader.get_run(run.info.run_id).data
    assert stored.params["iters"] == "30" and stored.params["lora_parameters.rank"] == "4"
    assert stored.params["steps_per_report"] == "5"
    # Real MLX's allocator is sampled as system metrics: active, peak and cache.
    assert stored.metrics["system/mlx_peak_memory_megabytes"] > 0
    assert stored.metrics["system/mlx_active_memory_megabytes"] > 0
    assert stored.metrics["system/mlx_cache_memory_megabytes"] >= 0


def test_training_params_flatten_and_reject() -> None:
    from mlx_lm.tuner.trainer import TrainingArgs

    flat = training_params(TrainingArgs(iters=7), {"rank": 8, "scale": 20.0})
    assert flat["iters"] == "7" and flat["lora_parameters.scale"] == "20.0"
    assert flat["adapter_file"] == "adapters.safetensors"
    with pytest.raises(InvalidInputError, match="training arguments"):
        training_params(42)


def test_without_the_mlx_extra_the_callback_says_how_to_install(tmp_path: Path) -> None:
    code = (
        "from mlops.errors import ComponentUnavailableError\n"
        "try:\n"
        "    from mlops.integrations.mlx_lm import MLOpsCallback\n"
        "except ComponentUnavailableError as err:\n"
        "    print(f'{err.component}|{err.operation}|{err.hint}')\n"
        "    raise SystemExit(3)\n"
    )
    done = without_mlx(code, [], tmp_path)
    assert done.returncode == 3, done.stderr[-2000:]
    hint = 'pip install "mlops[mlx]"  (or: uv sync --extra mlx)'
    assert done.stdout.strip() == f"mlx|mlx_lm_callback|{hint}"


def test_callback_needs_a_run(client: MLOpsClient) -> None:
    with pytest.raises(InvalidInputError, match="active run"):
        MLOpsCallback(client)
