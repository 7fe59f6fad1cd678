"""One team across real hosts: three network namespaces, none of them this machine's.

The infrastructure host is a namespace of its own: the MLflow server (started with
`mlops server start --workers 2 --artifacts-destination s3://...`), an S3 API (moto) and an
Evidently UI service run inside it (`ip netns exec`), bound to its address. Its PostgreSQL
store stays where it is, on this machine's 127.0.0.1, reached from the infrastructure host
through a TCP forwarder on this machine's end of their link. Hosts A and B are namespaces
linked to the infrastructure host only: each reaches its address and nothing else (not
this machine, not each other), with a home and caches of its own. A versions data, trains,
registers, deploys and pushes the Bento, monitors a batch and pushes the repository; B
clones it, pulls the data, pulls and serves the Bento, monitors another batch into the same
workspace, and reads the lineage. Every process is stopped by its PID, the namespaces and
links are removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.testing.hosts import (
    GATEWAY,
    INFRA,
    Forwarder,
    Host,
    HostsUnavailableError,
    make_hosts,
    remove_hosts,
    wait_port,
)
from mlops.tracking.server import stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.hosts]

BIN = Path(sys.executable).parent
KEYS = {"AWS_ACCESS_KEY_ID": "team", "AWS_SECRET_ACCESS_KEY": "team"}
REACH = """
import socket, sys
for address, port in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        socket.create_connection((address, int(port)), timeout=2).close()
        print(address, "reached")
    except OSError:
        print(address, "unreachable")
"""


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    try:
        made = make_hosts(["a", "b"], tmp_path_factory.mktemp("homes"))
    except HostsUnavailableError as exc:
        pytest.skip(str(exc))
    yield made
    remove_hosts(made)


def _in_namespace(pid: int, host: Host) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{host.namespace}").st_ino


def _server_pid(root: Path) -> int:
    import json

    return int(json.loads((root / ".mlops" / "server" / "server.json").read_text())["pid"])


@pytest.fixture(scope="module")
def infra(
    hosts: dict[str, Host], postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The services, inside the infrastructure host, on its address."""
    import boto3

    host, root = hosts["infra"], tmp_path_factory.mktemp("infra")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
    env = host.env({**env, **KEYS, "AWS_DEFAULT_REGION": "us-east-1", "DO_NOT_TRACK": "1"})
    forwarder = Forwarder((GATEWAY, 0), ("127.0.0.1", 5432))
    backend = postgres_uri.replace("127.0.0.1:5432", f"{GATEWAY}:{forwarder.port}")
    started: list[subprocess.Popen[bytes]] = []
    srv = root / "srv"
    try:
        s3_port, ui_port, port = host.free_port(), host.free_port(), host.free_port()
        started.append(
            host.spawn(
                [str(BIN / "moto_server"), "-H", INFRA, "-p", str(s3_port)], root / "s3.log", env
            )
        )
        ui = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(root / "ws")]
        started.append(
            host.spawn([*ui, "--host", INFRA, "--port", str(ui_port)], root / "ui.log", env)
        )
        s3 = f"http://{INFRA}:{s3_port}"
        wait_port(INFRA, s3_port, 60, root / "s3.log")
        boto3.client(
            "s3",
            endpoint_url=s3,
            region_name="us-east-1",
            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(Bucket="team-bucket")
        srv.mkdir()
        argv = [str(BIN / "mlops"), "server", "start", "--repo-root", str(srv)]
        argv += ["--backend-store-uri", backend, "--host", INFRA, "--port", str(port)]
        argv += ["--workers", "2", "--artifacts-destination", "s3://team-bucket/artifacts"]
        done = subprocess.run(
            host.command(argv),
            env={**env, "MLFLOW_S3_ENDPOINT_URL": s3},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        wait_port(INFRA, ui_port, 90, root / "ui.log")
        pids = {"tracking": _server_pid(srv), "s3": started[0].pid, "monitoring": started[1].pid}
        yield {
            "tracking": f"http://{INFRA}:{port}",
            "s3": s3,
            "monitoring": f"http://{INFRA}:{ui_port}",
            "pids": pids,
            "forwarder": forwarder.port,
            **KEYS,
        }
    finally:
        if (srv / ".mlops" / "server" / "server.json").exists():
            subprocess.run(
                [str(BIN / "mlops"), "server", "stop", "--repo-root", str(srv)],
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )
        for proc in started:
            stop_process_group(proc.pid)
            proc.wait(timeout=30)
        forwarder.close()


HOST_A = r"""
import hashlib, json, subprocess
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from mlops.client import create_client

rng = np.random.default_rng(0)
frame = pd.DataFrame({f"f{i}": rng.normal(size=600) for i in range(4)})
frame["y"] = (frame["f0"] + frame["f1"] > 0).astype(int)
Path("data").mkdir(exist_ok=True)
frame.to_csv("data/train.csv", index=False)
client = create_client("team-proj")
with client.start_run(run_name="fit") as run:
    client.dvc_add("data/train.csv")
    model = LogisticRegression().fit(frame[["f0", "f1", "f2", "f3"]].values, frame["y"])
    info = client.log_model(model, "model", registered_model_name="team-clf")
client.dvc_push()
deployed = client.deploy_model("models:/team-clf/1", "team-clf", "v1", push=True)
rows = frame[["f0", "f1", "f2", "f3"]].values[:20].tolist()
with client.serve(deployed["bento_tag"]) as server:
    predictions = server.predict(rows)
scored = frame.assign(pred=model.predict(frame[["f0", "f1", "f2", "f3"]].values))
client.set_reference_data(scored, "y", "pred")
check = client.monitor_predictions(scored.sample(300, random_state=1))
client.close()
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-qm", "data, model"], check=True)
subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], check=True)
committed = subprocess.run(["git", "ls-files"], capture_output=True, text=True).stdout.split()
md5 = hashlib.md5(Path("data/train.csv").read_bytes()).hexdigest()
print(json.dumps({"run_id": run.info.run_id, "md5": md5, "bento": deployed["bento_tag"],
                  "version": str(info.registered_model_version), "predictions": predictions,
                  "rows": rows, "check": check["check"],
                  "snapshot": check["evidently"]["snapshot_id"], "committed": committed}))
"""

HOST_B = r"""
import hashlib, json, os, subprocess
from pathlib import Path
import pandas as pd
subprocess.run(["git", "clone", "-q", "-b", "main", ORIGIN, "repo"], check=True)
os.chdir("repo")
from mlops.client import create_client
client = create_client("team-proj")
pulled = client.dvc_pull()
md5 = hashlib.md5(Path("data/train.csv").read_bytes()).hexdigest()
with client.serve(BENTO) as server:
    predictions = server.predict(ROWS)
frame = pd.read_csv("data/train.csv")
scored = frame.assign(pred=frame["y"])
client.set_reference_data(scored, "y", "pred")
check = client.monitor_predictions(scored.sample(300, random_state=2))
lineage = client.lineage("team-clf")
client.close()
print(json.dumps({"md5": md5, "added": pulled["added"], "predictions": predictions,
                  "check": check["check"], "snapshot": check["evidently"]["snapshot_id"],
                  "lineage": lineage}, default=str))
"""


def _reach(host: Host, *targets: tuple[str, int]) -> dict[str, str]:
    argv = [sys.executable, "-c", REACH, *(str(x) for target in targets for x in target)]
    done = subprocess.run(
        host.command(argv), capture_output=True, text=True, timeout=60, check=True
    )
    return dict(line.split() for line in done.stdout.splitlines())


def test_the_hosts_reach_the_infrastructure_host_only(
    hosts: dict[str, Host], infra: dict[str, Any]
) -> None:
    for name in ("tracking", "s3", "monitoring"):  # every service runs inside the infra host
        assert _in_namespace(infra["pids"][name], hosts["infra"]), name
    port = int(infra["tracking"].rsplit(":", 1)[1])
    for name, other in (("a", "b"), ("b", "a")):
        seen = _reach(
            hosts[name],
            (INFRA, port),
            (GATEWAY, infra["forwarder"]),  # this machine, where PostgreSQL's relay listens
            (hosts[other].address, 22),
        )
        assert seen == {
            INFRA: "reached",
            GATEWAY: "unreachable",
            hosts[other].address: "unreachable",
        }


def test_two_hosts_share_data_runs_models_bentos_and_monitoring(
    hosts: dict[str, Host], infra: dict[str, Any], tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    repo_a = tmp_path / "a" / "repo"
    repo_a.mkdir(parents=True)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "remote", "add", "origin", str(origin)],
        ["git", "config", "user.email", "a@example.com"],
        ["git", "config", "user.name", "A"],
    ):
        subprocess.run(cmd, cwd=repo_a, check=True)
    # The team's configuration, committed: the same on every machine.
    (repo_a / "mlops.toml").write_text(
        f'[tracking]\nuri = "{infra["tracking"]}"\n'
        "offline_after = 30\n\n"  # a busy machine answers slowly: no reason to go offline
        f'[data]\nremote_url = "s3://team-bucket/dvc"\nendpoint_url = "{infra["s3"]}"\n\n'
        f'[serving]\nregistry = "s3://team-bucket/bentos"\n'
        f'registry_endpoint_url = "{infra["s3"]}"\n\n'
        f'[monitoring]\nworkspace = "{infra["monitoring"]}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
    env |= {k: infra[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "GIT_AUTHOR_NAME": "A", "GIT_COMMITTER_NAME": "A"}
    env |= {"GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_EMAIL": "a@example.com"}

    a = hosts["a"].run_python(HOST_A, repo_a, env)
    assert "data/train.csv.dvc" in a["committed"] and "mlops.toml" in a["committed"]
    assert not [p for p in a["committed"] if p.startswith(".mlops/") or p == "data/train.csv"]

    work_b = tmp_path / "b"
    work_b.mkdir()
    script_b = (
        HOST_B.replace("ORIGIN", repr(str(origin)))
        .replace("BENTO", repr(a["bento"]))
        .replace("ROWS", repr(a["rows"]))
    )
    b = hosts["b"].run_python(script_b, work_b, env)

    assert b["md5"] == a["md5"]  # the same bytes, pulled from the team's remote
    assert b["added"] == ["data/train.csv"]
    assert b["predictions"] == a["predictions"]  # a Bento B did not build, same answers
    assert (a["check"], b["check"]) == (1, 2)  # one workspace, one numbering
    lineage = b["lineage"]  # B's view of what A did, and of both checks
    assert [(d["path"], d["md5"]) for d in lineage["data"]] == [("data/train.csv", a["md5"])]
    assert lineage["run"]["run_id"] == lineage["model"]["run_id"] == a["run_id"]
    assert lineage["model"]["name"] == "team-clf"
    assert lineage["model"]["version"] == a["version"] == "1"
    assert [x["tag"] for x in lineage["bentos"]] == [a["bento"]]
    labels = lineage["bentos"][0]["labels"]
    assert (labels["run_id"], str(labels["registered_version"])) == (a["run_id"], "1")
    assert lineage["monitoring"]["checks"] == 2
    history = lineage["monitoring"]["history"]
    assert [(h["name"], h["id"]) for h in history] == [
        ("check 1", a["snapshot"]),  # A's check
        ("check 2", b["snapshot"]),  # B's check
    ]
    assert (
        not (tmp_path / "a")
        .joinpath("repo", ".mlops", "bentoml")
        .samefile(work_b / "repo" / ".mlops" / "bentoml")
    )
