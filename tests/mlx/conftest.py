"""Session fixtures for the MLX tests: a tiny base model, a JSONL dataset, a trained adapter.

Everything is built locally (nothing is downloaded) and trained with real mlx-lm on the CPU.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlx_lm", reason="the mlx extra is not installed (uv sync --extra mlx)")

from mlops.testing.tiny_llama import build_tiny_llama, write_jsonl_dataset

#: mlx-lm's own command line, as a user types it (30 iterations on the tiny model).
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
PROMPTS = ["the model learns", "a small network predicts", "our service"]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random llama with its BPE tokenizer (mlx-lm and transformers load it)."""
    return build_tiny_llama(tmp_path_factory.mktemp("base") / "tiny-llama")


@pytest.fixture(scope="session")
def lora_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train.jsonl and valid.jsonl of short sentences."""
    return write_jsonl_dataset(tmp_path_factory.mktemp("data") / "lora")


@pytest.fixture(scope="session")
def cli_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path, lora_data: Path) -> Path:
    """An adapter folder written by `python -m mlx_lm lora` itself."""
    out = tmp_path_factory.mktemp("adapter") / "final"
    argv = ["--model", str(tiny_base), "--data", str(lora_data), *TRAIN_ARGS]
    done = subprocess.run(
        [sys.executable, "-m", "mlx_lm", "lora", *argv, "--adapter-path", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "adapters.safetensors").is_file() and (out / "adapter_config.json").is_file()
    return out


def mlx_greedy(base: Path, adapter: Path | None, prompts: list[str], max_tokens: int) -> list[str]:
    """What `mlx_lm.generate` (greedy: no sampler) answers in this process."""
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(base), adapter_path=str(adapter) if adapter else None)
    return [mlx_lm.generate(model, tokenizer, p, max_tokens=max_tokens) for p in prompts]
