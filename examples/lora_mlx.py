"""LoRA fine-tuning with MLX on your own base model: train, track, deploy, serve, monitor.

    python examples/lora_mlx.py --model mlx-community/Qwen2.5-0.5B-Instruct-4bit --data data/
    python examples/lora_mlx.py --tiny            # a tiny llama built locally, no download

``--data`` is a folder with ``train.jsonl`` and ``valid.jsonl`` in one of mlx-lm's
formats (``{"text": ...}``, ``{"prompt": ..., "completion": ...}`` or chat
``{"messages": [...]}``), inside this git repository (it is versioned with DVC).
A hub model must already be in the local Hugging Face cache or reachable.
"""

from __future__ import annotations

import argparse

import pandas as pd

from mlops import create_client
from mlops.integrations.mlx_lm_cli import run_lora_training

PROJECT = "lora-finetuning-mlx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="base model: a local MLX/HF folder or a hub id")
    parser.add_argument("--data", default="data/lora", help="folder with train.jsonl, valid.jsonl")
    parser.add_argument("--iters", default="100")
    parser.add_argument("--tiny", action="store_true", help="build a tiny llama and a dataset")
    args = parser.parse_args()
    model = args.model
    if args.tiny:
        from mlops.testing.tiny_llama import build_tiny_llama, write_jsonl_dataset

        model = str(build_tiny_llama("models/tiny-llama"))
        write_jsonl_dataset(args.data)
    if not model:
        parser.error("pass --model <folder or hub id>, or --tiny")

    client = create_client(PROJECT)
    adapter = client.get_workspace_path("outputs/checkpoints") / "final"
    # 1. mlx-lm's own LoRA command, inside a run: params, metrics, DVC data version,
    #    the adapter logged as an MLflow model and registered as "lora_adapter".
    argv = ["--model", model, "--train", "--data", args.data, "--iters", args.iters]
    argv += ["--num-layers", "-1", "--adapter-path", str(adapter)]
    trained = run_lora_training(client, argv, register_as="lora_adapter")
    print("run", trained["run_id"], "registered version", trained["registered_version"])

    # 2. Deploy the adapter folder (relative paths resolve in the workspace too) and serve it.
    result = client.deploy_model(
        model_path="outputs/checkpoints/final", model_name="lora_adapter", model_version=None
    )
    print("model tag", result["model_tag"], "bento", result["bento_tag"])
    prompts = ["Write a haiku about the sea.", "What is LoRA?"]
    with client.serve(result["bento_tag"]) as server:
        answer = server.generate(prompts, max_tokens=48)  # greedy (temperature 0)
        for prompt, completion in zip(prompts, answer["completions"], strict=True):
            print(f"{prompt!r} -> {completion!r}")
        print(f"{answer['tokens_per_second']:.1f} tokens/s")

        # 3. Monitor production prompts against a reference of prompts like the training ones.
        reference = pd.DataFrame({"prompt": prompts * 20, "completion": answer["completions"] * 20})
        client.set_reference_data(reference)
        longer = [p * 8 for p in prompts] * 20
        served = server.generate(longer[:4], max_tokens=16)["completions"] * 10
        check = client.monitor_predictions(
            pd.DataFrame({"prompt": longer[:40], "completion": served}),
            latency_ms=server.latency_stats()["mean_ms"],
        )
    print("drift:", check["drift_detected"], check["drifted_columns"])
    print("retraining suggested:", check["retraining_suggested"], check["reasons"])
    client.close()


if __name__ == "__main__":
    main()
