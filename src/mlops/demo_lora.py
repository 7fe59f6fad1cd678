"""``mlops demo lora``: the LoRA lifecycle on MLX, end to end, with nothing downloaded.

Builds a tiny random llama and its tokenizer locally, versions a JSONL dataset
with DVC, fine-tunes a LoRA adapter with mlx-lm's own ``lora`` command inside a
run (every report a metric, every argument a param, MLX memory as system
metrics), logs and registers the adapter, deploys it with the spec's call
(``deploy_model(model_path="outputs/checkpoints/final", ...)``), serves it and
sends real generation requests (checked against ``mlx_lm.generate`` in this
process), sets a text reference, monitors a batch of much longer prompts, and
prints the lineage of the registered adapter.
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlops.client import MLOpsClient
from mlops.components import require
from mlops.demo import _Steps
from mlops.errors import InvalidInputError

__all__ = ["MODEL_NAME", "PROJECT", "LoraDemoResult", "run_lora_demo"]

PROJECT = "lora-finetuning-mlx"
MODEL_NAME = "lora_adapter"
ADAPTER_DIR = "outputs/checkpoints/final"  # inside the project workspace
MAX_TOKENS = 16
TRAIN_ARGS = [
    "--train",
    "--iters",
    "30",
    "--batch-size",
    "4",
    "--num-layers",
    "-1",
    "--learning-rate",
    "1e-2",
    "--steps-per-report",
    "5",
    "--steps-per-eval",
    "10",
]


@dataclass
class LoraDemoResult:
    """What the LoRA demo made, where to find it."""

    root: Path
    base_model: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    model_tag: str = ""
    bento_tag: str = ""
    endpoint: str = ""
    generations_match: bool = False
    sample: tuple[str, str] = ("", "")
    tokens_per_second: float = 0.0
    monitoring: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    server: Any = None


@contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Work in ``folder`` (relative paths are the user's view of the repository)."""
    saved = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(saved)


def run_lora_demo(
    directory: Path, keep_serving: bool = False, console: Console | None = None
) -> LoraDemoResult:
    """Run the LoRA lifecycle in ``directory`` (made a git repository if it is not one).

    Raises:
        ComponentUnavailableError: mlx-lm is not installed (nothing was written).
    """
    require("mlx", "demo_lora")
    console = console or Console()
    started = time.perf_counter()
    result = LoraDemoResult(root=directory.resolve())
    steps = _Steps(console)
    _prepare_repo(result.root)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MLOpsClient.from_project(
        PROJECT,
        repo_root=result.root,
        hardware={"interval": 1.0},
    )
    try:
        with _inside(result.root):
            _build(client, steps, result)
            _train(client, steps, result)
            _deploy_and_serve(client, steps, result)
            _monitor(client, steps, result)
            result.lineage = client.lineage(MODEL_NAME, result.training["registered_version"])
    finally:
        if result.server is not None and not keep_serving:
            with steps.step("stop the model server"):
                result.server.stop()
        client.close()
    result.seconds = time.perf_counter() - started
    _summary(console, result, keep_serving)
    return result


def _prepare_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        (root / ".gitignore").write_text(".mlops/\n")


def _build(client: MLOpsClient, steps: _Steps, result: LoraDemoResult) -> None:
    from mlops.testing.tiny_llama import build_tiny_llama, write_jsonl_dataset

    with steps.step("build a tiny llama and its tokenizer locally (nothing downloaded)"):
        result.base_model = str(build_tiny_llama(result.root / "models" / "tiny-llama"))
        write_jsonl_dataset(result.root / "data" / "lora")


def _train(client: MLOpsClient, steps: _Steps, result: LoraDemoResult) -> None:
    from mlops.integrations.mlx_lm_cli import run_lora_training

    adapter = client.get_workspace_path(ADAPTER_DIR)
    argv = ["--model", "models/tiny-llama", "--data", "data/lora", *TRAIN_ARGS]
    title = "version data/lora with DVC, train a LoRA with mlx-lm, log and register the adapter"
    with steps.step(title):
        result.training = run_lora_training(
            client,
            [*argv, "--adapter-path", str(adapter)],
            run_name="lora-demo",
            register_as=MODEL_NAME,
            log_system_metrics=True,
        )


def _deploy_and_serve(client: MLOpsClient, steps: _Steps, result: LoraDemoResult) -> None:
    from mlops.testing.tiny_llama import sample_prompts

    with steps.step(f'deploy_model(model_path="{ADAPTER_DIR}", model_name="{MODEL_NAME}")'):
        try:  # the spec's call, as users write it
            deployed = client.deploy_model(
                model_path=ADAPTER_DIR, model_name=MODEL_NAME, model_version="v1.0"
            )
        except InvalidInputError:  # v1.0 exists from an earlier run of the demo: a new version
            deployed = client.deploy_model(model_path=ADAPTER_DIR, model_name=MODEL_NAME)
        result.model_tag, result.bento_tag = deployed["model_tag"], deployed["bento_tag"]
    with steps.step("serve it and send real generation requests (greedy)"):
        server = client.serve(result.bento_tag)
        result.server, result.endpoint = server, f"{server.url}/generate"
        prompts = sample_prompts(8, seed=11)
        served = server.generate(prompts, max_tokens=MAX_TOKENS)
        local = _in_process(result, prompts)
        result.generations_match = served["completions"] == local
        result.sample = (prompts[0], served["completions"][0])
        result.tokens_per_second = float(served["tokens_per_second"])


def _in_process(result: LoraDemoResult, prompts: list[str]) -> list[str]:
    """``mlx_lm.generate`` on the same base and adapter, greedy, in this process."""
    import mlx_lm

    adapter = result.training["adapter_path"]
    loaded: Any = mlx_lm.load(result.base_model, adapter_path=adapter)
    model, tokenizer = loaded[0], loaded[1]
    return [mlx_lm.generate(model, tokenizer, p, max_tokens=MAX_TOKENS) for p in prompts]


def _monitor(client: MLOpsClient, steps: _Steps, result: LoraDemoResult) -> None:
    import pandas as pd

    from mlops.testing.tiny_llama import CORPUS, sample_prompts

    with steps.step("monitor: a text reference, then a batch of much longer prompts"):
        reference = _served_frame(result.server, sample_prompts(80, seed=1))
        client.set_reference_data(pd.DataFrame(reference))
        longer = [" ".join(CORPUS[(i * 7 + k) % len(CORPUS)] for k in range(5)) for i in range(80)]
        batch = _served_frame(result.server, longer)
        latency = result.server.latency_stats().get("mean_ms")
        with warnings.catch_warnings():  # numpy on constant columns (all-empty completions)
            warnings.simplefilter("ignore", RuntimeWarning)
            result.monitoring = client.monitor_predictions(pd.DataFrame(batch), latency_ms=latency)


def _served_frame(server: Any, prompts: list[str]) -> dict[str, list[Any]]:
    """One request per prompt: the prompt, its completion, latency and tokens per second."""
    rows: dict[str, list[Any]] = {
        "prompt": [],
        "completion": [],
        "latency_ms": [],
        "tokens_per_second": [],
    }
    for prompt in prompts:
        started = time.perf_counter()
        answer = server.generate(prompt, max_tokens=MAX_TOKENS)
        rows["prompt"].append(prompt)
        rows["completion"].append(answer["completions"][0])
        rows["latency_ms"].append((time.perf_counter() - started) * 1000)
        rows["tokens_per_second"].append(float(answer["tokens_per_second"]))
    return rows


def _summary(console: Console, result: LoraDemoResult, keep_serving: bool) -> None:
    from mlops.cli._tree import render_lineage

    train, mon = result.training, result.monitoring
    table = Table(title=f"mlops demo lora finished in {result.seconds:.1f} s", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    last = train.get("last", {})
    verdict = "DRIFT" if mon.get("drift_detected") else "no drift"
    drifted = ", ".join(mon.get("drifted_columns", [])) or "none"
    rows = [
        ("base model", result.base_model),
        ("run id", train.get("run_id")),
        ("data version", f"data/lora md5 {(train.get('data_version') or {}).get('md5')}"),
        (
            "training",
            f"{train.get('train_reports')} train / {train.get('val_reports')} validation "
            f"reports; train_loss {last.get('train_loss', 0):.3f}, "
            f"val_loss {last.get('val_loss', 0):.3f}",
        ),
        ("adapter", f"{train.get('adapter_path')}"),
        ("registered", f"{MODEL_NAME} v{train.get('registered_version')}"),
        ("model tag / bento", f"{result.model_tag} / {result.bento_tag}"),
        ("endpoint", result.endpoint + ("" if keep_serving else " (stopped)")),
        ("served = mlx_lm.generate", "yes" if result.generations_match else "NO"),
        ("sample", f"{result.sample[0]!r} -> {result.sample[1]!r}"),
        ("served tokens/s", f"{result.tokens_per_second:.0f}"),
        ("text drift", f"{verdict}: share {mon.get('drift_share', 0):.2f}; drifted: {drifted}"),
        ("alerts", ", ".join(a["type"] for a in mon.get("alerts", [])) or "-"),
        ("retraining suggested", str(mon.get("retraining_suggested"))),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if result.lineage:
        render_lineage(result.lineage, console)
