"""Benchmark: ``dvc_add`` + ``dvc_push`` of about 1 GB through the client vs plain DVC.

The data: one large file and one folder of many small files, in a fresh git
repository, pushed to a local-folder remote. Three sides, each in fresh
processes, on the same data, with DVC initialised and the remote configured
beforehand (the same way on every side):

- ``client``: ``client.dvc_add(file)``, ``client.dvc_add(folder)``, ``client.dvc_push()``;
- ``dvc_commands``: ``dvc add file folder`` then ``dvc push``;
- ``dvc_api``: DVC's own Python API, ``Repo.add`` then ``Repo.push``.

Measured per side: wall seconds of the processes, CPU seconds of the processes
(user + system; robust on a machine shared with other work), and for the two
in-process sides the wall seconds inside the calls (imports excluded). Rounds
alternate the order; the best round per side counts.

On a machine shared with other work, moving 1 GB varies far more than 5 %
between runs, so the client also measures its own fixed cost per call: the same
no-op ``dvc_add`` / ``dvc_push`` (data unchanged, remote complete) through the
client and through DVC's API, best of five each, in one warm process. Two adds
and one push of that extra cost, divided by DVC's time, is
``overhead.fixed_cost_vs_dvc_api``. Everything is deleted afterwards. Prints
one JSON object.

Usage: ``python benchmarks/data_versioning.py [--mb 1024] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_OVERHEAD = 0.05
SMALL_FILE = 100 * 1024
PROJECT = "bench"
JOBS = 4  # given to every side: dvc -j, DVC's API, and the client (MLOPS_DATA_JOBS)

# Both in-process scripts import DVC before their clock starts (the client
# would otherwise import it lazily inside the first timed call).
CLIENT_SCRIPT = """
import time
import dvc.repo
from mlops.client import MLOpsClient
client = MLOpsClient.from_project({project!r}, repo_root={root!r})
start = time.perf_counter()
client.dvc_add("big.bin")
client.dvc_add("many")
client.dvc_push()
print(time.perf_counter() - start)
client.close(timeout=10)
"""

# The client's fixed cost per call, free of the data-moving noise: the same
# no-op call (data unchanged, remote complete) through the client and through
# DVC's API (also opening a fresh Repo), best of 5 each, in one warm process.
FIXED_COST_SCRIPT = """
import json, time
from dvc.repo import Repo
from mlops.client import MLOpsClient
client = MLOpsClient.from_project({project!r}, repo_root={root!r})

def best(fn):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)

def dvc_add():
    with Repo({root!r}) as repo:
        repo.add(["many"])

def dvc_push():
    with Repo({root!r}) as repo:
        repo.push(jobs={jobs})

extra_add = best(lambda: client.dvc_add("many")) - best(dvc_add)
extra_push = best(client.dvc_push) - best(dvc_push)
client.close(timeout=10)
print(json.dumps({{"extra_add": extra_add, "extra_push": extra_push}}))
"""

DVC_API_SCRIPT = """
import time
from dvc.repo import Repo
start = time.perf_counter()
with Repo({root!r}) as repo:
    repo.add(["big.bin", "many"])
with Repo({root!r}) as repo:
    repo.push(jobs={jobs})
print(time.perf_counter() - start)
"""

SETUP_SCRIPT = """
from mlops.client import MLOpsClient
client = MLOpsClient.from_project({project!r}, repo_root={root!r})
client.dvc_status(cloud=False)
client.close(timeout=10)
"""


def make_data(root: Path, total_mb: int) -> tuple[int, int]:
    """Half the bytes in one file, half in 100 KB files; returns (bytes, files)."""
    half = total_mb * 1024 * 1024 // 2
    with (root / "big.bin").open("wb") as fh:
        for _ in range(half // (16 << 20)):
            fh.write(os.urandom(16 << 20))
    many = root / "many"
    count = half // SMALL_FILE
    for i in range(count):
        sub = many / f"{i % 50:02}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:06}.bin").write_bytes(os.urandom(SMALL_FILE))
    return half + count * SMALL_FILE, count + 1


def reset(root: Path) -> None:
    """Forget every DVC trace (the data is plain files again) and flush the disk."""
    for name in (".dvc", ".dvcignore", ".gitignore", "big.bin.dvc", "many.dvc", ".mlops"):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    os.sync()  # the previous side's write-back must not slow the next one


def run(cmd: list[str], root: Path, env: dict[str, str]) -> str:
    """Run ``cmd`` in ``root``; its stdout, or raise with its stderr."""
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {done.stderr[-2000:]}")
    return done.stdout


def timed(cmds: list[list[str]], root: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of running ``cmds`` one after another; ``inner`` if printed."""
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    out = [run(cmd, root, env) for cmd in cmds]
    result = {"wall": time.perf_counter() - wall0, "cpu": _children_cpu() - cpu0}
    last = out[-1].split()
    if last:
        result["inner"] = float(last[-1])
    return result


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def setup_with_dvc(root: Path, env: dict[str, str]) -> None:
    """What the client configures on first use, done with the dvc command."""
    dvc = str(BIN / "dvc")
    site = str(root / ".mlops" / "dvc-site-cache")
    # `dvc init` opens the repository before any config exists: point it at the same place.
    run([dvc, "init", "-q"], root, {**env, "DVC_SITE_CACHE_DIR": site})
    run([dvc, "config", "--local", "core.site_cache_dir", site], root, env)
    remote = str(root / ".mlops" / "dvc-remote" / PROJECT)
    run([dvc, "remote", "add", "-d", "bench", remote], root, env)
    with (root / ".dvcignore").open("a") as fh:
        fh.write("/.mlops/\n")


def measure(side: str, root: Path, env: dict[str, str]) -> dict[str, float]:
    """Set up, then time one side once."""
    fmt = {"project": PROJECT, "root": str(root)}
    env = {**env, "MLOPS_DATA_JOBS": str(JOBS)}
    if side == "client":
        run([sys.executable, "-c", SETUP_SCRIPT.format(**fmt)], root, env)
        result = timed([[sys.executable, "-c", CLIENT_SCRIPT.format(**fmt)]], root, env)
        fixed = run([sys.executable, "-c", FIXED_COST_SCRIPT.format(**fmt, jobs=JOBS)], root, env)
        return result | json.loads(fixed.strip().splitlines()[-1])
    setup_with_dvc(root, env)
    if side == "dvc_api":
        script = DVC_API_SCRIPT.format(root=str(root), jobs=JOBS)
        return timed([[sys.executable, "-c", script]], root, env)
    dvc = str(BIN / "dvc")
    add, push = [dvc, "add", "-q", "big.bin", "many"], [dvc, "push", "-q", "-j", str(JOBS)]
    return timed([add, push], root, env)


def summary(
    samples: dict[str, list[dict[str, float]]], total: int, files: int
) -> dict[str, object]:
    """The JSON report: every sample, the best per side and metric, and the overheads."""
    best = {
        side: {k: round(min(s[k] for s in runs), 3) for k in runs[0]}
        for side, runs in samples.items()
    }

    def overhead(other: str, metric: str) -> float:
        return round((best["client"][metric] - best[other][metric]) / best[other][metric], 4)

    overheads = {
        "cpu_vs_dvc_commands": overhead("dvc_commands", "cpu"),
        "cpu_vs_dvc_api": overhead("dvc_api", "cpu"),
        "wall_vs_dvc_commands": overhead("dvc_commands", "wall"),
        "inner_wall_vs_dvc_api": overhead("dvc_api", "inner"),
    }
    # Sides of one round ran back to back: their ratio shares that round's load.
    for other, metric in (("dvc_commands", "wall"), ("dvc_api", "inner")):
        paired = [
            c[metric] / o[metric] - 1
            for c, o in zip(samples["client"], samples[other], strict=True)
        ]
        overheads[f"paired_median_{metric}_vs_{other}"] = round(statistics.median(paired), 4)
    # Two adds and one push per client run, each paying its fixed extra cost.
    extra = 2 * best["client"]["extra_add"] + best["client"]["extra_push"]
    overheads["fixed_cost_vs_dvc_api"] = round(extra / best["dvc_api"]["inner"], 4)
    return {
        "benchmark": "data_versioning",
        "data_bytes": total,
        "files": files,
        "rounds": len(samples["client"]),
        "samples": {
            side: [{k: round(v, 3) for k, v in s.items()} for s in runs]
            for side, runs in samples.items()
        },
        "best": best,
        "overhead": overheads,
        "target_overhead": TARGET_OVERHEAD,
        "client_fixed_cost_s": round(extra, 3),
        "meets_target_fixed_cost": overheads["fixed_cost_vs_dvc_api"] <= TARGET_OVERHEAD,
        "meets_target_cpu": max(overheads["cpu_vs_dvc_commands"], overheads["cpu_vs_dvc_api"])
        <= TARGET_OVERHEAD,
        "meets_target_wall": max(
            overheads["wall_vs_dvc_commands"], overheads["inner_wall_vs_dvc_api"]
        )
        <= TARGET_OVERHEAD,
    }


def main() -> None:
    """Run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    # The dvc command would otherwise start an analytics process on every call.
    env["DVC_NO_ANALYTICS"] = "1"
    sides = ["client", "dvc_commands", "dvc_api"]
    samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="mlops-bench-dvc-") as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        total, files = make_data(root, args.mb)
        for i in range(args.rounds):
            for side in sides if i % 2 == 0 else reversed(sides):
                reset(root)
                samples[side].append(measure(side, root, env))
        reset(root)
    print(json.dumps(summary(samples, total, files)))


if __name__ == "__main__":
    main()
