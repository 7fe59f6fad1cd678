"""One team across real hosts: network namespaces joined to this machine by veth pairs.

The test process's namespace is the infrastructure host: a real MLflow server on
PostgreSQL, an S3 API (moto) and an Evidently UI service, bound to the address of its end
of the link to host A only. Hosts A and B are namespaces of their own, each with its own
address, home and caches, reaching the services across the links. A versions data, trains,
registers, deploys and pushes the Bento, monitors a batch and pushes the repository; B
clones it, pulls the data, pulls and serves the Bento, monitors another batch into the same
workspace, and reads the lineage. The namespaces and links are removed at the end.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.testing.hosts import INFRA, Host, HostsUnavailableError, make_hosts, remove_hosts
from tests.conftest import free_port

from .conftest import MlflowServer, start_evidently
from .test_versioning import _bucket, _start_moto, _stop

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.hosts]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Host]]:
    try:
        made = make_hosts(["a", "b"], tmp_path_factory.mktemp("homes"))
    except HostsUnavailableError as exc:
        pytest.skip(str(exc))
    yield made
    remove_hosts(made)


@pytest.fixture(scope="module")
def infra(
    hosts: dict[str, Host], postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The services, on the infrastructure host's address."""
    root = tmp_path_factory.mktemp("infra")
    env = {"AWS_ACCESS_KEY_ID": "team", "AWS_SECRET_ACCESS_KEY": "team"}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    moto, s3 = _start_moto(host=INFRA)
    _bucket(s3, "team-bucket")
    server = MlflowServer(root / "srv", free_port(INFRA), postgres_uri)
    from mlops.config import load_settings
    from mlops.tracking.server import start_server, stop_server

    settings = load_settings(
        "infra",
        repo_root=server.root,
        overrides={
            "server": {
                "backend_store_uri": postgres_uri,
                "port": server.port,
                "host": INFRA,
                "workers": 2,
                "artifacts_destination": "s3://team-bucket/artifacts",
            }
        },
    )
    start_server(settings, {"MLFLOW_S3_ENDPOINT_URL": s3, **env})
    evidently = start_evidently(root, INFRA)
    try:
        yield {
            "tracking": f"http://{INFRA}:{server.port}",
            "s3": s3,
            "monitoring": evidently.url,
            **env,
        }
    finally:
        stop_server(settings)
        _stop(moto)
        evidently.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    client.log_model(model, "model", registered_model_name="team-clf")
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
                  "predictions": predictions, "rows": rows, "check": check["check"],
                  "committed": committed}))
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
                  "check": check["check"], "lineage": lineage}, default=str))
"""


def test_two_hosts_share_data_runs_models_bentos_and_monitoring(
    hosts: dict[str, Host], infra: dict[str, str], tmp_path: Path
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
        f'[tracking]\nuri = "{infra["tracking"]}"\n\n'
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
    lineage = b["lineage"]
    assert lineage["model"]["run_id"] == a["run_id"]
    assert [d["md5"] for d in lineage["data"]] and lineage["data"][0]["path"] == "data/train.csv"
    assert [x["tag"] for x in lineage["bentos"]] == [a["bento"]]
    assert lineage["monitoring"]["checks"] == 2
    assert [h["name"] for h in lineage["monitoring"]["history"]] == ["check 1", "check 2"]
    assert (
        not (tmp_path / "a")
        .joinpath("repo", ".mlops", "bentoml")
        .samefile(work_b / "repo" / ".mlops" / "bentoml")
    )
