"""`mlops sync` of an offline backlog to an `mlflow server` on PostgreSQL, vs raw log_batch.

A run is logged offline (the server is away: `tracking.offline = "always"`) with N points
(default 1,000,000); then `mlops sync` delivers it to a real `mlflow server` (PostgreSQL
backend, 4 workers) and the same N points are sent by sequential `MlflowClient.log_batch`
calls of 1,000 to the same server, in the same run of this script. Prints one JSON object.
Target: sync points/s >= 1x the sequential raw log_batch.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres).
Usage: python benchmarks/sync_throughput.py [--points 1000000] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database() -> tuple[str, str]:
    name = f"mlops_bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name, f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


def drop(name: str) -> None:
    conn = psycopg2.connect(PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s", (name,)
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


def log_offline(root: Path, url: str, n: int) -> str:
    from mlops.client import create_client

    client = create_client(
        "backlog", repo_root=root, tracking_uri=url, tracking={"offline": "always"}
    )
    with client.start_run(run_name="backlog") as run:
        log = client.log_metrics
        for i in range(n):
            log({"loss": 1.0 / (i + 1)}, step=i)
    client.close(timeout=0)
    return str(run.info.run_id)


def raw(url: str, n: int) -> float:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(url)
    run = client.create_run(client.create_experiment(f"raw-{uuid.uuid4().hex[:6]}"))
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for b in range(0, n, 1000):
        batch = [Metric("loss", 1.0 / (i + 1), now + i, i) for i in range(b, min(b + 1000, n))]
        client.log_batch(run.info.run_id, metrics=batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    from mlops.config import load_settings
    from mlops.tracking.server import start_server, stop_server

    name, backend = database()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        admin = load_settings(
            "admin",
            repo_root=root / "srv",
            overrides={
                "server": {"backend_store_uri": backend, "port": port, "workers": args.workers}
            },
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        try:
            t = time.perf_counter()
            log_offline(root / "repo", url, args.points)
            write_s = time.perf_counter() - t
            start_server(admin)
            t = time.perf_counter()
            done = subprocess.run(
                [str(Path(sys.executable).with_name("mlops")), "sync", "-p", "backlog",
                 "--repo-root", str(root / "repo"), "--timeout", "3600"],
                env=env | {"MLOPS_TRACKING_URI": url},
                capture_output=True,
                text=True,
                check=False,
            )  # fmt: skip
            sync_s = time.perf_counter() - t
            from mlflow import MlflowClient

            client = MlflowClient(url)
            (run,) = client.search_runs([client.get_experiment_by_name("backlog").experiment_id])
            stored = len(client.get_metric_history(run.info.run_id, "loss"))
            raw_s = raw(url, args.points)
        finally:
            stop_server(admin)
            drop(name)
    ours, theirs = args.points / sync_s, args.points / raw_s
    print(
        json.dumps(
            {
                "benchmark": "sync_throughput",
                "points": args.points,
                "server_workers": args.workers,
                "offline_logging_s": round(write_s, 2),
                "mlops_sync": {"seconds": round(sync_s, 2), "points_per_s": round(ours),
                               "exit_code": done.returncode, "stored": stored},
                "raw_log_batch_sequential": {"seconds": round(raw_s, 2),
                                             "points_per_s": round(theirs)},
                "ratio": round(ours / theirs, 3),
                "points_lost": args.points - stored,
                "target_ratio": 1.0,
                "meets_target": ours >= theirs and stored == args.points and done.returncode == 0,
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
