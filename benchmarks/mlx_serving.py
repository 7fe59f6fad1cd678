"""Benchmark: served generation (the Bento over HTTP) versus ``mlx_lm.generate`` in-process.

Builds the tiny llama locally, trains a LoRA adapter with ``python -m mlx_lm lora``,
deploys the adapter folder with ``client.deploy_model`` and serves it. Then the
same prompts are completed greedily, one request per prompt, in interleaved
rounds: by ``mlx_lm.generate`` on base + adapter loaded in this process (what a
user runs; the target compares with it), by ``server.generate`` over HTTP (the
round trip is timed on the client), and by ``mlx_lm.generate`` on base + adapter
folded the way the server folds them (``serving.fuse_adapters``), which leaves the
cost of serving alone. All three give the same tokens (checked), so tokens per
second compare like with like. Prints one JSON object.

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
    from mlops.serving.generation_runtime import fuse_adapter
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
        folded, _ = mlx_lm.load(str(base), adapter_path=str(adapter))
        fused_layers = fuse_adapter(folded, client.settings.serving.fuse_adapters)
        with client.serve(deployed["bento_tag"]) as server:
            ready_s = time.perf_counter() - start - deploy_s
            _served(server, prompts[:2], args.max_tokens)  # warm-up both paths
            _in_process(model, tokenizer, prompts[:2], args.max_tokens)
            local_ms: list[float] = []
            served_ms: list[float] = []
            folded_ms: list[float] = []
            tokens: list[int] = []
            same = True
            for _ in range(args.rounds):
                local_text, lat = _in_process(model, tokenizer, prompts, args.max_tokens)
                local_ms += lat
                served_text, lat, toks = _served(server, prompts, args.max_tokens)
                served_ms += lat
                tokens += toks
                folded_text, lat = _in_process(folded, tokenizer, prompts, args.max_tokens)
                folded_ms += lat
                same = same and local_text == served_text == folded_text
        client.close(timeout=30)
    timings = {"in_process": local_ms, "served": served_ms, "in_process_folded": folded_ms}
    report = _report(timings, tokens, same, args)
    report.update(fused_layers=fused_layers, deploy_seconds=round(deploy_s, 2))
    report["serve_ready_seconds"] = round(ready_s, 2)
    print(json.dumps(report, indent=2))


def _report(
    timings: dict[str, list[float]], tokens: list[int], same: bool, args: Any
) -> dict[str, Any]:
    total = sum(tokens)
    figures = {
        name: {
            "tokens_per_s": round(total / (sum(ms) / 1000), 1),
            "p50_ms": round(statistics.median(ms), 3),
        }
        for name, ms in timings.items()
    }
    ratio = sum(timings["in_process"]) / sum(timings["served"])
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
        **figures,
        "ratio": round(ratio, 4),
        "ratio_to_folded_in_process": round(
            sum(timings["in_process_folded"]) / sum(timings["served"]), 4
        ),
        "meets_target": same and ratio >= TARGET_RATIO,
    }


if __name__ == "__main__":
    main()
