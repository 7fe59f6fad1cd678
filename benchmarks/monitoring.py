"""Benchmark of ``monitor_predictions`` (prints one JSON object).

1. Overhead: ``client.monitor_predictions`` on 100,000 rows x 10 columns (8
   features, target, prediction) against a 100,000-row reference, versus
   Evidently's ``Report`` with the same metrics called directly on the same
   frames in the same process. Target: overhead <= 10 %. Medians of several
   alternating repeats after a warm-up of each (imports, MLflow store creation).
   ``monitor_predictions`` also validates the input, saves the HTML report,
   adds the snapshot to the Evidently workspace and queues MLflow metrics, so
   two baselines are reported: ``Report.run`` alone, and ``Report.run`` plus
   ``save_html`` plus ``Workspace.add_run`` (the same outputs). Wall time and
   the calling thread's CPU time (``time.thread_time``, less sensitive to other
   processes on a shared machine) are both given.
2. Memory: peak resident memory while checking 2,000,000 rows x 20 columns
   (sampled down to ``monitoring.max_rows``), measured in a child process by a
   psutil sampler every 10 ms, above the memory held before the call.

Run: ``.venv/bin/python benchmarks/monitoring.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROWS, BIG_ROWS = 100_000, 2_000_000


def frame(rows: int, features: int, seed: int) -> pd.DataFrame:
    """Numerical features, a binary label ``y`` and a prediction ``pred`` right ~90 %."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"f{i}": rng.normal(0, 1, rows) for i in range(features)})
    df["y"] = (df["f0"] + df["f1"] > 0).astype(int)
    df["pred"] = (df["f0"] + df["f1"] + rng.normal(0, 0.4, rows) > 0).astype(int)
    return df


def new_client(root: Path, **monitoring: Any) -> Any:
    from mlops.client import MLOpsClient

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return MLOpsClient.from_project("bench", repo_root=root, monitoring=monitoring)


def direct_report(
    reference: pd.DataFrame, current: pd.DataFrame, outputs: Path | None
) -> tuple[float, float]:
    """Evidently alone, the same metrics and tests monitor_predictions runs: (wall s, CPU s).

    With ``outputs``, it also saves the HTML report and adds the snapshot to an
    Evidently workspace there: the same products ``monitor_predictions`` leaves.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import Accuracy, F1Score, Precision, Recall, ValueDrift
    from evidently.presets import DataDriftPreset
    from evidently.tests import Reference, gte
    from evidently.ui.workspace import Workspace

    wall, cpu = time.perf_counter(), time.thread_time()
    features = [c for c in current.columns if c.startswith("f")]
    definition = DataDefinition(
        numerical_columns=features,
        categorical_columns=["y", "pred"],
        classification=[BinaryClassification(target="y", prediction_labels="pred", pos_label=1)],
    )
    quality = [
        m(tests=[gte(Reference(relative=0.1))]) for m in (Accuracy, Precision, Recall, F1Score)
    ]
    items = [DataDriftPreset(columns=features), ValueDrift(column="y"), ValueDrift(column="pred")]
    snapshot = Report([*items, *quality], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    if outputs is not None:
        snapshot.save_html(str(outputs / "direct.html"))
        workspace = Workspace(str(outputs / "evidently"))
        found = workspace.search_project("direct")
        project = found[0] if found else workspace.create_project("direct")
        workspace.add_run(project.id, snapshot)
    return time.perf_counter() - wall, time.thread_time() - cpu


def timed_check(client: Any, current: pd.DataFrame) -> tuple[float, float]:
    """monitor_predictions: (wall s, CPU s of the calling thread)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    client.monitor_predictions(current)
    return time.perf_counter() - wall, time.thread_time() - cpu


def overhead(repeats: int) -> dict[str, Any]:
    reference, current = frame(ROWS, 8, seed=1), frame(ROWS, 8, seed=2)
    runs: dict[str, list[tuple[float, float]]] = {"report": [], "report_outputs": [], "ours": []}
    with tempfile.TemporaryDirectory() as tmp:
        client = new_client(Path(tmp))
        client.set_reference_data(reference, "y", "pred")
        direct_report(reference, current, Path(tmp)), timed_check(client, current)  # warm-up
        for _ in range(repeats):  # interleaved, so load from elsewhere hits all three alike
            runs["report"].append(direct_report(reference, current, None))
            runs["report_outputs"].append(direct_report(reference, current, Path(tmp)))
            runs["ours"].append(timed_check(client, current))
        client.close(timeout=30)
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in runs.items()
    }
    pct = lambda a, b: round(100 * (a / b - 1), 1)  # noqa: E731
    return {
        "rows": ROWS,
        "columns": 10,
        "repeats": repeats,
        "direct_report_s": round(med["report"][0], 3),
        "direct_report_html_history_s": round(med["report_outputs"][0], 3),
        "monitor_predictions_s": round(med["ours"][0], 3),
        "overhead_vs_report_pct": pct(med["ours"][0], med["report"][0]),
        "overhead_vs_same_outputs_pct": pct(med["ours"][0], med["report_outputs"][0]),
        "cpu_direct_report_s": round(med["report"][1], 3),
        "cpu_direct_report_html_history_s": round(med["report_outputs"][1], 3),
        "cpu_monitor_predictions_s": round(med["ours"][1], 3),
        "cpu_overhead_vs_report_pct": pct(med["ours"][1], med["report"][1]),
        "cpu_overhead_vs_same_outputs_pct": pct(med["ours"][1], med["report_outputs"][1]),
        "target_overhead_pct": 10,
    }


def peak_memory() -> dict[str, Any]:
    """Run in a child process: peak RSS of one check of 2,000,000 x 20 above the baseline."""
    import psutil

    reference, current = frame(200_000, 18, seed=1), frame(BIG_ROWS, 18, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        client = new_client(Path(tmp))
        client.set_reference_data(reference, "y", "pred")
        client.monitor_predictions(reference.iloc[:1000])  # imports and stores warm
        proc, peak, stop = psutil.Process(), [0], threading.Event()
        before = proc.memory_info().rss

        def sample() -> None:
            while not stop.wait(0.01):
                peak[0] = max(peak[0], proc.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        result = client.monitor_predictions(current)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        client.close(timeout=30)
    mb = 2**20
    return {
        "rows": BIG_ROWS,
        "columns": 20,
        "input_mb": round(current.memory_usage().sum() / mb, 1),
        "rss_before_mb": round(before / mb, 1),
        "peak_rss_mb": round(max(peak[0], before) / mb, 1),
        "peak_increase_mb": round((max(peak[0], before) - before) / mb, 1),
        "seconds": round(seconds, 2),
        "sampled": result["sampled"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(peak_memory()))
        return
    child = subprocess.run(
        [sys.executable, __file__, "--memory-only"], capture_output=True, text=True, check=True
    )
    memory = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {"benchmark": "monitoring", "overhead": overhead(args.repeats), "memory": memory}
        )
    )


if __name__ == "__main__":
    main()
