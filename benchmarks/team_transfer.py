"""Benchmark: moving a team's data and Bentos between two hosts, ours vs the tools' own.

Two user hosts and an infrastructure host, each a network namespace of its own
(``mlops.testing.hosts``; needs root); an S3 API (moto) runs inside the infrastructure host,
on its address, reached from the user hosts across their veth links.

- **Data**: host A versions ``--mb`` MiB (4 files) with ``mlops data add`` and pushes it to
  the team's S3 remote; host B clones the repository and pulls it, alternately with
  ``mlops data pull`` and with DVC's own ``dvc pull`` (cache and files removed and the
  page cache written back with ``sync`` before each pull; who goes first alternates by
  round, since the second pull of a round pays for the first one's writeback otherwise),
  ``--rounds`` times each. Both are commands, so both pay their interpreter start. CPU
  seconds (user + system) are reported beside wall seconds: the disk makes the wall time
  of a 1 GiB pull move by a second between rounds, the CPU time far less.
- **Bento**: A builds a Bento of a small scikit-learn model; A pushes it and B pulls it,
  with ``mlops bento push`` / ``mlops bento pull`` through a shared-folder registry vs
  BentoML's own ``bentoml export`` / ``bentoml import`` of the same archive to the same
  folder (B's store emptied before each pull); also our push + pull through the S3
  registry across the link (BentoML's own export to S3 needs fs-s3fs, not installed).

The hosts' folders are on a memory filesystem (``/dev/shm``) where it has room, so what is
compared is the two tools' work on the link, not the writeback of a virtual disk (on disk,
the same command's CPU time moved by 3 s between rounds of one run); ``--disk`` puts them
in the system's temporary folder instead.

Reported: median seconds per side and the ratio ours / theirs (goal <= 1.05). Everything
is deleted afterwards. Prints one JSON object.

Usage: ``python benchmarks/team_transfer.py [--mb 1024] [--rounds 5] [--disk]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlops.testing.hosts import (
    INFRA,
    Host,
    HostsUnavailableError,
    make_hosts,
    remove_hosts,
    wait_port,
)
from mlops.tracking.server import stop_process_group

BIN = Path(sys.executable).parent
GOAL = 1.05
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def _start_moto(infra: Host, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto inside the infrastructure host, on its address, with the bucket made."""
    port = infra.free_port()
    log = work / "moto.log"
    proc = infra.spawn(
        [str(BIN / "moto_server"), "-H", INFRA, "-p", str(port)], log, {**os.environ}
    )
    wait_port(INFRA, port, 30, log)
    endpoint = f"http://{INFRA}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys()).create_bucket(
        Bucket="bench"
    )
    return proc, endpoint


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _timed(host: Host, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    return _timed_cpu(host, argv, cwd, env)[0]


def _timed_cpu(host: Host, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        host.command(argv), cwd=cwd, env=host.env(env), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} on {host.name} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _data(
    hosts: dict[str, Host], work: Path, env: dict[str, str], mb: int, rounds: int
) -> dict[str, Any]:
    origin, repo_a = work / "origin.git", work / "a"
    _git(work, "init", "-q", "--bare", "-b", "main", str(origin))
    repo_a.mkdir()
    _git(repo_a, "init", "-q", "-b", "main")
    _git(repo_a, "remote", "add", "origin", str(origin))
    data = repo_a / "data"
    data.mkdir()
    for i in range(4):
        with (data / f"part{i}.bin").open("wb") as out:
            for _ in range(mb // 4):
                out.write(os.urandom(1 << 20))
    a, b = hosts["a"], hosts["b"]
    add = _timed(a, [str(BIN / "mlops"), "data", "add", "data", "-p", "bench"], repo_a, env)
    push = _timed(a, [str(BIN / "mlops"), "data", "push", "-p", "bench"], repo_a, env)
    _git(repo_a, "add", "-A")
    _git(repo_a, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qm", "data")
    _git(repo_a, "push", "-q", "origin", "HEAD:main")
    repo_b = work / "b"
    _git(work, "clone", "-q", "-b", "main", str(origin), str(repo_b))
    ours, theirs, cpu = [], [], {"ours": [], "theirs": []}
    commands = {
        "ours": [str(BIN / "mlops"), "data", "pull", "-p", "bench"],
        "theirs": [str(BIN / "dvc"), "pull", "-q"],
    }
    for round_ in range(rounds):
        for side in ("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours"):
            shutil.rmtree(repo_b / ".dvc" / "cache", ignore_errors=True)
            shutil.rmtree(repo_b / "data", ignore_errors=True)
            os.sync()
            wall, used = _timed_cpu(b, commands[side], repo_b, env)
            (ours if side == "ours" else theirs).append(wall)
            cpu[side].append(used)
            assert (repo_b / "data" / "part0.bin").stat().st_size == (mb // 4) << 20
    paired = [o / t for o, t in zip(ours, theirs, strict=True)]
    return {
        "mib": mb,
        "a_add_s": round(add, 2),
        "a_push_s": round(push, 2),
        "b_pull_ours_s": round(statistics.median(ours), 2),
        "b_pull_dvc_s": round(statistics.median(theirs), 2),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
        "cpu_ratio": round(statistics.median(cpu["ours"]) / statistics.median(cpu["theirs"]), 3),
        # Each round's two pulls ran back to back: their ratio is immune to drift between
        # rounds (the machine's speed moves by tens of percent within one run).
        "paired_ratio_median": round(statistics.median(paired), 3),
        "paired_ratios": [round(r, 2) for r in paired],
        "rounds": {"ours": [round(x, 2) for x in ours], "dvc": [round(x, 2) for x in theirs]},
        "cpu_rounds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
    }


BUILD = """
import json
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from mlops.client import create_client
client = create_client("bench")
x, y = load_iris(return_X_y=True)
with client.start_run():
    client.log_model(LogisticRegression(max_iter=300).fit(x, y), "model",
                     registered_model_name="bench-clf")
tag = client.deploy_model("models:/bench-clf/1", "bench-clf", "v1")["bento_tag"]
client.close()
print(json.dumps({"tag": tag}))
"""


def _bento(hosts: dict[str, Host], work: Path, env: dict[str, str], rounds: int) -> dict[str, Any]:
    a, b = hosts["a"], hosts["b"]
    repo_a, repo_b = work / "bento-a", work / "bento-b"
    repo_a.mkdir()
    repo_b.mkdir()
    store = f"sqlite:///{work / 'bento-mlflow.db'}"
    base = {**env, "MLOPS_TRACKING_URI": store, "MLOPS_PROJECT": "bench"}
    tag = a.run_python(BUILD, repo_a, base)["tag"]
    shared = work / "shared"
    home_a, home_b = repo_a / ".mlops" / "bentoml", repo_b / ".mlops" / "bentoml"
    folder_env = {**base, "MLOPS_SERVING_REGISTRY": str(shared)}
    sides: dict[str, list[float]] = {"ours": [], "bentoml": []}
    name, version = tag.split(":")
    archive = shared / name / f"{version}.bento"
    mlops = str(BIN / "mlops")
    for round_ in range(rounds):
        for side in ("ours", "bentoml") if round_ % 2 == 0 else ("bentoml", "ours"):
            shutil.rmtree(shared, ignore_errors=True)
            shutil.rmtree(home_b, ignore_errors=True)
            if side == "ours":
                push = _timed(a, [mlops, "bento", "push", tag], repo_a, folder_env)
                pull = _timed(b, [mlops, "bento", "pull", tag], repo_b, folder_env)
            else:
                archive.parent.mkdir(parents=True)
                env_a = {**base, "BENTOML_HOME": str(home_a), "BENTOML_DO_NOT_TRACK": "true"}
                env_b = {**base, "BENTOML_HOME": str(home_b), "BENTOML_DO_NOT_TRACK": "true"}
                bentoml = str(BIN / "bentoml")
                push = _timed(a, [bentoml, "export", tag, str(archive)], repo_a, env_a)
                pull = _timed(b, [bentoml, "import", str(archive)], repo_b, env_b)
            sides[side].append(push + pull)
    s3_env = {
        **base,
        "MLOPS_SERVING_REGISTRY": "s3://bench/bentos",
        "MLOPS_SERVING_REGISTRY_ENDPOINT_URL": env["S3"],
    }
    shutil.rmtree(home_b, ignore_errors=True)
    s3_push = _timed(a, [mlops, "bento", "push", tag], repo_a, s3_env)
    s3_pull = _timed(b, [mlops, "bento", "pull", tag], repo_b, s3_env)
    ours, theirs = statistics.median(sides["ours"]), statistics.median(sides["bentoml"])
    return {
        "tag": tag,
        "archive_bytes": (shared / name / f"{version}.bento").stat().st_size
        if (shared / name / f"{version}.bento").exists()
        else None,
        "push_pull_ours_s": round(ours, 2),
        "push_pull_bentoml_s": round(theirs, 2),
        "ratio": round(ours / theirs, 3),
        "s3_across_link": {"push_s": round(s3_push, 2), "pull_s": round(s3_pull, 2)},
        "rounds": {k: [round(x, 2) for x in v] for k, v in sides.items()},
    }


def _memory_folder(mb: int) -> str | None:
    """``/dev/shm`` when it can hold the run's copies of the data (about 5 of them)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return None
    return str(shm) if shutil.disk_usage(shm).free > 6 * (mb << 20) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--disk", action="store_true", help="work in the temporary folder")
    args = parser.parse_args()
    where = None if args.disk else _memory_folder(args.mb)
    work = Path(tempfile.mkdtemp(prefix="mlops-team-bench-", dir=where))
    try:
        hosts = make_hosts(["a", "b"], work / "homes")
    except HostsUnavailableError as exc:
        print(json.dumps({"benchmark": "team_transfer", "skipped": str(exc)}))
        return
    moto = None
    try:
        moto, endpoint = _start_moto(hosts["infra"], work)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
        env |= {**CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1", "S3": endpoint}
        env |= {"MLOPS_DATA_REMOTE_URL": "s3://bench/dvc", "MLOPS_DATA_ENDPOINT_URL": endpoint}
        result = {
            "benchmark": "team_transfer",
            "link": "veth between network namespaces; S3 = moto inside the infrastructure host",
            "storage": "memory (/dev/shm)" if where else f"disk ({tempfile.gettempdir()})",
            "data": _data(hosts, work, env, args.mb, args.rounds),
            "bento": _bento(hosts, work, env, args.rounds),
        }
        result["goal"] = f"ours / theirs <= {GOAL}"
        result["met"] = result["data"]["ratio"] <= GOAL and result["bento"]["ratio"] <= GOAL
        print(json.dumps(result, indent=2))
    finally:
        if moto is not None:
            stop_process_group(moto.pid)
            moto.wait(timeout=30)
        remove_hosts(hosts)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
