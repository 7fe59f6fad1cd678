"""Benchmark: the generated BentoML service versus a minimal hand-written one, same model, same run.

Logs a scikit-learn model in a throw-away project, deploys it with
``client.deploy_model`` (timing deploy -> ready -> first answer), then serves the
generated Bento and a hand-written ``@bentoml.service`` loading the same stored
model. Both are called over real HTTP by the same client code: a sequential
latency phase (interleaved blocks, >= 2000 requests each) and a concurrent
throughput phase. Prints one JSON object.

Run: ``.venv/bin/python benchmarks/serving.py [--requests 2000] [--threads 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TARGET_OVERHEAD = 0.10
HANDWRITTEN = """
import bentoml
import numpy as np


@bentoml.service(name="handwritten")
class Handwritten:
    stored = bentoml.models.BentoModel({tag!r})

    def __init__(self) -> None:
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(self.stored.path_of("model"))

    @bentoml.api(route="/predict")
    def predict(self, data: list[list[float]]) -> list[int]:
        return self.model.predict(np.asarray(data)).tolist()
"""


def _log_model(client: Any) -> tuple[str, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    with client.start_run(run_name="bench") as run:
        client.log_model(LogisticRegression(max_iter=300).fit(x, y), "model", input_example=x[:2])
    return run.info.run_id, x


def _first_answer(
    client: Any, run_id: str, row: list[float]
) -> tuple[dict[str, Any], Any, dict[str, float]]:
    start = time.perf_counter()
    deployed = client.deploy_model(f"runs:/{run_id}/model", "bench-iris")
    built = time.perf_counter()
    server = client.serve(deployed["bento_tag"])
    ready = time.perf_counter()
    server.predict([row])
    answered = time.perf_counter()
    timing = {
        "deploy_model_s": built - start,
        "serve_until_ready_s": ready - built,
        "first_request_s": answered - ready,
        "deploy_to_first_answer_s": answered - start,
    }
    return deployed, server, timing


def _handwritten(client: Any, model_tag: str, folder: Path) -> Any:
    from mlops.serving.server import ModelServer, free_port

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handwritten.py").write_text(HANDWRITTEN.format(tag=model_tag))
    env = {
        **os.environ,
        "BENTOML_HOME": str(client.settings.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    server = ModelServer(
        "handwritten",
        ["handwritten:Handwritten", "--working-dir", str(folder)],
        host="127.0.0.1",
        port=free_port(),
        env=env,
        cwd=folder,
        log_path=folder / "server.log",
    )
    server.wait_ready(client.settings.serving.ready_timeout)
    return server


def _call(server: Any, body: bytes) -> float:
    start = time.perf_counter()
    status, _ = server.post("/predict", body)
    if status != 200:
        raise RuntimeError(f"{server.tag} answered HTTP {status}")
    return (time.perf_counter() - start) * 1000


def _latencies(servers: dict[str, Any], body: bytes, requests: int) -> dict[str, list[float]]:
    """Sequential calls, alternating services request by request: load from other
    processes on the machine hits both alike."""
    out: dict[str, list[float]] = {name: [] for name in servers}
    for _ in range(100):  # warm-up
        for server in servers.values():
            _call(server, body)
    for _ in range(requests):
        for name, server in servers.items():
            out[name].append(_call(server, body))
    return out


def _throughput(
    servers: dict[str, Any], body: bytes, requests: int, threads: int, rounds: int = 4
) -> dict[str, float]:
    """Requests/s with ``threads`` concurrent clients, services alternating round by round."""
    per_thread = max(1, requests // threads // rounds)
    elapsed = dict.fromkeys(servers, 0.0)
    for _ in range(rounds):
        for name, server in servers.items():
            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                work = [
                    pool.submit(lambda s=server: [_call(s, body) for _ in range(per_thread)])
                    for _ in range(threads)
                ]
                for item in work:
                    item.result()
            elapsed[name] += time.perf_counter() - start
    return {name: per_thread * threads * rounds / secs for name, secs in elapsed.items()}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(latencies: list[float], rps: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "p50_ms": round(_quantile(latencies, 0.50), 3),
        "p99_ms": round(_quantile(latencies, 0.99), 3),
        "mean_ms": round(sum(latencies) / len(latencies), 3),
        "requests_per_s": round(rps, 1),
    }


def main() -> None:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    from mlops.client import MLOpsClient

    with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        os.chdir(root)
        client = MLOpsClient.from_project("bench-serving", repo_root=root)
        run_id, x = _log_model(client)
        body = json.dumps({"data": [x[0].tolist()]}).encode()
        deployed, generated, timing = _first_answer(client, run_id, x[0].tolist())
        try:
            with _handwritten(client, deployed["model_tag"], Path(tmp) / "hand") as hand:
                servers = {"generated": generated, "handwritten": hand}
                latencies = _latencies(servers, body, args.requests)
                rps = _throughput(servers, body, args.requests, args.threads)
        finally:
            generated.stop()
            client.close(timeout=10)
    print(json.dumps(_report(latencies, rps, timing, args), indent=2))


def _report(
    latencies: dict[str, list[float]], rps: dict[str, float], timing: dict[str, float], args: Any
) -> dict[str, Any]:
    gen = _summary(latencies["generated"], rps["generated"])
    hand = _summary(latencies["handwritten"], rps["handwritten"])
    overhead = {
        "p50": round(gen["p50_ms"] / hand["p50_ms"] - 1, 4),
        "p99": round(gen["p99_ms"] / hand["p99_ms"] - 1, 4),
        "throughput": round(1 - gen["requests_per_s"] / hand["requests_per_s"], 4),
    }
    return {
        "benchmark": "serving",
        "model": "scikit-learn LogisticRegression (iris), one row per request, JSON over HTTP",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "client_threads_for_throughput": args.threads,
        "target": {"overhead_max": TARGET_OVERHEAD},
        "generated": gen,
        "handwritten": hand,
        "overhead": overhead,
        "meets_target": all(v <= TARGET_OVERHEAD for v in overhead.values()),
        "time_to_first_answer": {k: round(v, 3) for k, v in timing.items()},
    }


if __name__ == "__main__":
    main()
