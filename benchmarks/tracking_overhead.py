"""Cost of logging a metric in the training loop, and time until every point is stored.

Delivery runs in its own process while the loop logs (it starts with the first point).
All against the same kind of store (a fresh sqlite file each). Prints one JSON object.
Targets: median <= 5 us, mean <= 6 us and p99 <= 50 us per `client.log_metrics` call;
end-to-end throughput >= 0.8x raw `MlflowClient.log_batch` in 1,000-point batches (ours
includes starting the delivery process); zero points lost.

Usage: python benchmarks/tracking_overhead.py [--points 100000] [--mlflow-calls 1000]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

logging.disable(logging.WARNING)


def ours(root: Path, n: int) -> dict[str, float]:
    from mlops.client import create_client

    client = create_client("bench", repo_root=root)
    per_call = [0] * n
    clock = time.perf_counter_ns
    with client.start_run() as run:
        log = client.log_metrics
        start = time.perf_counter()
        for i in range(n):
            t = clock()
            log({"loss": 1.0 / (i + 1)}, step=i)
            per_call[i] = clock() - t
        loop_s = time.perf_counter() - start
    stored_s = time.perf_counter() - start
    stored = len(client.mlflow_client.get_metric_history(run.info.run_id, "loss"))
    client.close()
    per_call.sort()
    return {
        "median_us": per_call[n // 2] / 1000,
        "p99_us": per_call[int(n * 0.99)] / 1000,
        "mean_us": sum(per_call) / n / 1000,
        "loop_s": loop_s,
        "all_stored_s": stored_s,
        "points_per_s": n / stored_s,
        "stored": stored,
    }


def raw_log_batch(root: Path, n: int) -> dict[str, float]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(f"sqlite:///{root / 'raw.db'}")
    run = client.create_run(client.create_experiment("raw"))
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for b in range(0, n, 1000):
        batch = [Metric("loss", 1.0 / (i + 1), now + i, i) for i in range(b, min(b + 1000, n))]
        client.log_batch(run.info.run_id, metrics=batch)
    took = time.perf_counter() - start
    stored = len(client.get_metric_history(run.info.run_id, "loss"))
    return {"all_stored_s": took, "points_per_s": n / took, "stored": stored}


def fluent(root: Path, calls: int, synchronous: bool) -> dict[str, float]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / f'fluent-{synchronous}.db'}")
    mlflow.set_experiment(f"fluent-{synchronous}")
    times = []
    with mlflow.start_run() as run:
        for i in range(calls):
            t = time.perf_counter()
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=synchronous)
            times.append(time.perf_counter() - t)
        if not synchronous:
            mlflow.flush_async_logging()
    stored = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    times.sort()
    return {
        "median_us": statistics.median(times) * 1e6,
        "p99_us": times[int(len(times) * 0.99)] * 1e6,
        "stored": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-calls", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result_ours = ours(root / "ours", args.points)
        result_raw = raw_log_batch(root, args.points)
        sync = fluent(root, args.mlflow_calls, True)
        asyn = fluent(root, args.mlflow_calls, False)
    ratio = result_ours["points_per_s"] / result_raw["points_per_s"]
    lost = args.points - result_ours["stored"]
    print(
        json.dumps(
            {
                "benchmark": "tracking_overhead",
                "store": "sqlite",
                "points": args.points,
                "mlops_log_metrics": {k: round(v, 3) for k, v in result_ours.items()},
                "raw_log_batch_1000": {k: round(v, 3) for k, v in result_raw.items()},
                "mlflow_log_metric_sync": {k: round(v, 1) for k, v in sync.items()},
                "mlflow_log_metric_async": {k: round(v, 1) for k, v in asyn.items()},
                "end_to_end_throughput_ratio": round(ratio, 3),
                "points_lost": lost,
                "targets": {
                    "median_us": 5,
                    "mean_us": 6,
                    "p99_us": 50,
                    "throughput_ratio": 0.8,
                    "points_lost": 0,
                },
                "meets_targets": result_ours["median_us"] <= 5
                and result_ours["mean_us"] <= 6
                and result_ours["p99_us"] <= 50
                and ratio >= 0.8
                and lost == 0,
            }
        )
    )


if __name__ == "__main__":
    main()
