"""LoRA fine-tuning with MLX on your own base model: train, track, deploy, serve, monitor.

Run it from the root of a git repository (the data folder is versioned with DVC)::

    python examples/lora_mlx.py --model mlx-community/Qwen2.5-0.5B-Instruct-4bit --data data/mine
    python examples/lora_mlx.py --model ./models/my-base --data data/mine --iters 600
    python examples/lora_mlx.py                  # no --model: a tiny llama, nothing downloaded

``--model`` is a local MLX / Hugging Face model folder or a hub id (mlx-lm downloads
it when it is not in the Hugging Face cache yet). Without ``--model``, a tiny random
llama is built in ``models/tiny-llama`` and, when ``--data`` has no ``train.jsonl``,
a small dataset is written there: the whole lifecycle runs in about a minute on a CPU.

``--data`` holds ``train.jsonl`` and ``valid.jsonl`` in one of mlx-lm's formats
(``{"text": ...}``, ``{"prompt": ..., "completion": ...}`` or chat ``{"messages": [...]}``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlops import create_client
from mlops.integrations.mlx_lm_cli import run_lora_training

PROJECT = "lora-finetuning-mlx"
MODEL_NAME = "lora_adapter"
ADAPTER_DIR = "outputs/checkpoints/final"  # in the project's workspace
ROWS = 40  # requests in the monitoring reference, and in the batch checked against it


def main() -> None:
    """Train, register, deploy, serve and monitor a LoRA adapter; print what was recorded."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", help="base model: a local folder or a hub id (default: a tiny llama built here)"
    )
    parser.add_argument("--data", default="data/lora", help="folder with train.jsonl, valid.jsonl")
    parser.add_argument("--iters", default="100", help="training iterations")
    args = parser.parse_args()
    model = args.model or tiny_base_model(Path(args.data))

    client = create_client(PROJECT)
    try:
        trained = train(client, model, args.data, args.iters)
        with client.serve(deploy(client)) as server:
            generate(server)
            check = monitor(client, server, Path(args.data))
        print("drift:", check["drift_detected"], check["drifted_columns"])
        print("retraining suggested:", check["retraining_suggested"], check["reasons"])
        print_lineage(client.lineage(MODEL_NAME, trained["registered_version"]))
    finally:
        client.close()


def tiny_base_model(data: Path) -> str:
    """Build the tiny llama (and a dataset in ``data`` if it has none); its folder."""
    from mlops.testing.tiny_llama import build_tiny_llama, write_jsonl_dataset

    if not (data / "train.jsonl").is_file():
        write_jsonl_dataset(data)
    return str(build_tiny_llama("models/tiny-llama"))


def train(client: Any, model: str, data: str, iters: str) -> dict[str, Any]:
    """mlx-lm's own LoRA command inside a run: params, metrics, MLX memory, the DVC data
    version, the adapter logged as an MLflow model and registered as ``lora_adapter``."""
    adapter = client.get_workspace_path(ADAPTER_DIR)
    argv = ["--model", model, "--train", "--data", data, "--iters", iters]
    argv += ["--num-layers", "-1", "--adapter-path", str(adapter)]
    trained = run_lora_training(client, argv, register_as=MODEL_NAME, log_system_metrics=True)
    last = trained["last"]
    print(f"run {trained['run_id']}: train_loss {last.get('train_loss', float('nan')):.3f}")
    print(f"registered {MODEL_NAME} v{trained['registered_version']}")
    return trained


def deploy(client: Any) -> str:
    """Deploy the adapter folder (relative paths resolve in the workspace too); the Bento."""
    result = client.deploy_model(model_path=ADAPTER_DIR, model_name=MODEL_NAME)
    print("model tag", result["model_tag"], "bento", result["bento_tag"])
    return str(result["bento_tag"])


def generate(server: Any) -> None:
    """Real generation requests to the served adapter."""
    prompts = ["Write a haiku about the sea.", "What is LoRA?"]
    answer = server.generate(prompts, max_tokens=32)  # greedy (temperature 0)
    for prompt, completion in zip(prompts, answer["completions"], strict=True):
        print(f"{prompt!r} -> {completion!r}")
    print(f"{answer['tokens_per_second']:.1f} tokens/s")


def monitor(client: Any, server: Any, data: Path) -> dict[str, Any]:
    """A reference of prompts like the training ones, then a batch of much longer prompts."""
    prompts = training_prompts(data, ROWS)
    client.set_reference_data(served_frame(server, prompts))
    longer = [" ".join(prompts[(i + k) % len(prompts)] for k in range(5)) for i in range(ROWS)]
    batch = served_frame(server, longer)
    return client.monitor_predictions(batch, latency_ms=server.latency_stats()["mean_ms"])


def training_prompts(data: Path, count: int) -> list[str]:
    """``count`` prompts like the training data's: its prompts, first user messages,
    or the first words of its texts."""
    found = []
    for line in (data / "train.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if "prompt" in row:
            found.append(str(row["prompt"]))
        elif "messages" in row:
            found += [str(m["content"]) for m in row["messages"] if m.get("role") == "user"][:1]
        elif "text" in row:
            found.append(" ".join(str(row["text"]).split()[:4]))
    return [found[i % len(found)] for i in range(count)]


def served_frame(server: Any, prompts: list[str]) -> pd.DataFrame:
    """One request per prompt: the prompt, its completion, latency and tokens per second."""
    rows = []
    for prompt in prompts:
        started = time.perf_counter()
        answer = server.generate(prompt, max_tokens=16)
        rows.append(
            {
                "prompt": prompt,
                "completion": answer["completions"][0],
                "latency_ms": (time.perf_counter() - started) * 1000,
                "tokens_per_second": float(answer["tokens_per_second"]),
            }
        )
    return pd.DataFrame(rows)


def print_lineage(chain: dict[str, Any]) -> None:
    """Data -> run -> registered version -> Bento -> monitoring, as recorded."""
    model = chain["model"]
    data = ", ".join(f"{d['path']} (md5 {d['md5']})" for d in chain["data"]) or "-"
    bentos = ", ".join(b["tag"] for b in chain["bentos"]) or "-"
    print("lineage:")
    print(f"  data        {data}")
    print(f"  run         {model['run_id']}")
    print(f"  model       {model['name']} v{model['version']}")
    print(f"  bentos      {bentos}")
    print(f"  monitoring  {chain['monitoring']['checks']} check(s)")


if __name__ == "__main__":
    main()
