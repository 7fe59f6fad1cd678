"""Loss-free at every edge: each fault-injection scenario once, counted.

The scenarios of `tests/faults` (shared code in `tests/faults/harness.py`): a child process
logs through mlops to a real `mlflow server` on PostgreSQL while the benchmark kills it with
kill -9, stops and restarts the server, hangs it (SIGSTOP of its process group), fills the
repository's `.mlops` (a 2 MB tmpfs; needs root, else reported as skipped), refuses, cuts,
delays and stalls its connections through a TCP proxy, slows delivery while the run ends,
and kills two of four concurrent writers. Prints one JSON object: per scenario
`acknowledged` (points whose `log_metrics` call returned), `stored` (of those, on the
server), `lost`, `duplicated`, `exit_s` (from the end of the child's loop to its exit: leaving
`start_run` and interpreter exit; null where it was killed), and the exit codes of each
`mlops sync` (1 while something was pending). Target: lost = duplicated = 0 everywhere and
exit_s <= telemetry.flush_timeout (3 s here) + 1 s.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres).
Usage: python benchmarks/faults.py [--only kill9_mid_write,server_hung]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.faults.harness

from tests.faults import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(harness.SCENARIOS)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        base = Path(tmp)
        with harness.running_server(base / "server") as server:
            for name in names:
                server.ensure_running()
                started = time.monotonic()
                try:
                    outcome = harness.SCENARIOS[name](server, base / name)
                except harness.MountFailedError as exc:
                    results[name] = {"skipped": str(exc)}
                    continue
                results[name] = {
                    **outcome.as_dict(),
                    "scenario_s": round(time.monotonic() - started, 1),
                }
    bound = harness.FLUSH_TIMEOUT + 1
    measured = [r for r in results.values() if isinstance(r, dict) and "lost" in r]
    print(
        json.dumps(
            {
                "benchmark": "faults",
                "flush_timeout_s": harness.FLUSH_TIMEOUT,
                "scenarios": results,
                "target": f"lost = duplicated = 0, stored = acknowledged, exit_s <= {bound:g} s",
                "meets_target": all(
                    r["lost"] == 0
                    and r["duplicated"] == 0
                    and r["stored"] == r["acknowledged"]
                    and (r["exit_s"] is None or r["exit_s"] <= bound)
                    for r in measured
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
