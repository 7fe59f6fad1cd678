"""Benchmark: served generation (the Bento over HTTP) versus ``mlx_lm.generate`` in-process.

Builds the tiny llama locally, trains a LoRA adapter with ``python -m mlx_lm lora``,
deploys the adapter folder with ``client.deploy_model`` and serves it. Then the
same prompts are completed greedily, one request per prompt, in interleaved
rounds: by ``mlx_lm.generate`` on base + adapter loaded in this process, and by
``server.generate`` over HTTP (the round trip is timed on the client). Both give
the same tokens (checked), so tokens per second compare like with like.
Prints one JSON object.

Run: ``.venv/bin/python benchmarks/mlx_serving.py [--prompts 24] [--max-tokens 32] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.9
TRAIN = ["--train", "--iters", "120", "--batch-size", "4", "--num-layers", "-1"]
TRAIN += ["--learning-rate", "1e-2", "--steps-per-eval", "1000"]


def _adapter(root: Path, base: Path, data: Path) -> Path:
    out = root / "adapter"
    argv = ["--model", str(base), "--data", str(data), *TRAIN, "--adapter-path", str(out)]
    subprocess.run([sys.executable, "-m", "mlx_lm", "lora", *argv], check=True, capture_output=True)
    return out


def _in_process(
    model: Any, tokenizer: Any, prompts: list[str], max_tokens: int
) -> tuple[list[str], list[float]]:
    import mlx_lm

    texts, latencies = [], []
    for prompt in prompts:
        start = time.perf_counter()
        texts.append(mlx_lm.generate(model, tokenizer, prompt, max_tokens=max_tokens))
        latencies.append((time.perf_counter() - start) * 1000)
    return texts, latencies


def _served(
    server: Any, prompts: list[str], max_tokens: int
) -> tuple[list[str], list[float], list[int]]:
    texts, latencies, tokens = [], [], []
    for prompt in prompts:
        start = time.perf_counter()
        answer = server.generate(prompt, max_tokens=max_tokens)
        latencies.append((time.perf_counter() - start) * 1000)
        texts.append(answer["completions"][0])
        tokens.append(answer["completion_tokens"][0])
    return texts, latencies, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import mlx_lm

    from mlops.client import MLOpsClient
    from mlops.testing.tiny_llama import build_tiny_llama, sample_prompts, write_jsonl_dataset

    prompts = sample_prompts(args.prompts, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        base = build_tiny_llama(root / "base")
        adapter = _adapter(root, base, write_jsonl_dataset(root / "data"))
        client = MLOpsClient.from_project("bench-mlx-serving", repo_root=root)
        start = time.perf_counter()
        deployed = client.deploy_model(adapter, "lora_bench")
        deploy_s = time.perf_counter() - start
        model, tokenizer = mlx_lm.load(str(base), adapter_path=str(adapter))
        with client.serve(deployed["bento_tag"]) as server:
            ready_s = time.perf_counter() - start - deploy_s
            _served(server, prompts[:2], args.max_tokens)  # warm-up both paths
            _in_process(model, tokenizer, prompts[:2], args.max_tokens)
            local_ms: list[float] = []
            served_ms: list[float] = []
            tokens: list[int] = []
            same = True
            for _ in range(args.rounds):
                local_text, lat = _in_process(model, tokenizer, prompts, args.max_tokens)
                local_ms += lat
                served_text, lat, toks = _served(server, prompts, args.max_tokens)
                served_ms += lat
                tokens += toks
                same = same and local_text == served_text
        client.close(timeout=30)
    print(json.dumps(_report(local_ms, served_ms, tokens, same, deploy_s, ready_s, args), indent=2))


def _report(  # noqa: PLR0917 - one call site, every figure of the report
    local_ms: list[float],
    served_ms: list[float],
    tokens: list[int],
    same: bool,
    deploy_s: float,
    ready_s: float,
    args: Any,
) -> dict[str, Any]:
    total = sum(tokens)
    local_tps = total / (sum(local_ms) / 1000)
    served_tps = total / (sum(served_ms) / 1000)
    ratio = served_tps / local_tps
    return {
        "benchmark": "mlx_serving",
        "model": "tiny random llama (2 layers, hidden 64) + LoRA adapter (mlx_lm lora, 120 iters)",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "prompts": args.prompts,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
        "generated_tokens": total,
        "same_completions": same,
        "target": {"served_tokens_per_s_ratio_min": TARGET_RATIO},
        "in_process": {
            "tokens_per_s": round(local_tps, 1),
            "p50_ms": round(statistics.median(local_ms), 3),
        },
        "served": {
            "tokens_per_s": round(served_tps, 1),
            "p50_ms": round(statistics.median(served_ms), 3),
        },
        "ratio": round(ratio, 4),
        "meets_target": same and ratio >= TARGET_RATIO,
        "deploy_seconds": round(deploy_s, 2),
        "serve_ready_seconds": round(ready_s, 2),
    }


if __name__ == "__main__":
    main()
