"""`mlops team up` / `status` / `down` on this machine: the commands run as printed, a project
pointed at the services by `MLOPS_CONFIG` alone logs, versions data, pushes a Bento and
monitors through them, and `down` stops every process it started; with
`--backend-store-uri postgresql+psycopg2://...` the runs land in that PostgreSQL database and
their artifacts in the S3 bucket."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.harness import pg_database

from .test_team_cli import query

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

MLOPS = str(Path(sys.executable).with_name("mlops"))

WORK = """
import sys
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

from mlops.client import create_client

client = create_client("team-try")
frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 25, "y": [0, 0, 1, 1] * 25})
frame.to_csv("train.csv", index=False)
with client.start_run(run_name="fit") as run:
    client.log_params({"store": "postgresql"})
    client.dvc_add("train.csv")
    client.log_metrics({"loss": 0.5}, step=0)
    Path("notes.txt").write_text("on the team's services")
    client.log_artifact("notes.txt")
    client.log_model(LogisticRegression().fit(frame[["x"]], frame["y"]), "model",
                     registered_model_name="team-model")
client.dvc_push()
deployed = client.deploy_model("models:/team-model/1", "team-model", "v1", push=True)
client.set_reference_data(frame.assign(pred=frame["y"]), "y", "pred")
checked = client.monitor_predictions(frame.assign(pred=frame["y"]))
status = {row["service"]: row["reachable"] for row in client.get_status()["services"]}
artifacts = client.mlflow_client.list_artifacts(run.info.run_id)
print("ARTIFACTS", sorted(a.path for a in artifacts))
print("REGISTRY", deployed["registry_url"])
print("CHECK", checked["evidently"]["workspace"])
print("STATUS", status)
print("RUN", run.info.run_id)
client.close()
"""


def _pids(text: str) -> list[int]:
    return [int(word.rstrip(")")) for word in text.split() if word.rstrip(")").isdigit()]


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().split()[2]
    except OSError:
        return b"Z"


def _team(repo: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, "team", *argv, "--repo-root", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.postgres
def test_team_up_on_postgresql_serves_a_project_as_printed_and_down_stops_it(
    tmp_path: Path,
) -> None:
    """The printed lines run as printed; a project pointed at the services by MLOPS_CONFIG
    alone logs (its run a row of that PostgreSQL database, its artifact in the bucket),
    versions data, pushes a Bento and monitors; `down` stops every process it started."""
    import boto3

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
    env["MLOPS_TRACKING_OFFLINE_AFTER"] = "30"  # a busy machine is slow, not offline
    env["COLUMNS"] = "200"
    with pg_database("mlops_team") as backend:
        up = _team(repo, env, "up", "--backend-store-uri", backend)
        assert up.returncode == 0, up.stdout + up.stderr
        try:
            pids = _pids(up.stdout)
            assert len(pids) == 3
            export = next(line for line in up.stdout.splitlines() if "export " in line)
            for pair in shlex.split(export.strip())[1:]:  # the printed line, as a shell runs it
                key, _, value = pair.partition("=")
                env[key] = value
            status = _team(repo, env, "status")
            assert status.returncode == 0, status.stdout + status.stderr
            lines = {line.split()[0]: line for line in status.stdout.splitlines()}
            assert sorted(lines) == ["monitoring", "s3", "tracking"]
            assert all(line.endswith("  running") for line in lines.values()), lines
            tracking, s3 = lines["tracking"].split()[1], lines["s3"].split()[1]
            assert f"tracking    {tracking}" in up.stdout and f"S3          {s3}" in up.stdout

            done = subprocess.run(
                [sys.executable, "-c", WORK],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            out = done.stdout
            listed = next(line for line in out.splitlines() if line.startswith("ARTIFACTS"))
            assert "'notes.txt'" in listed  # through the server's proxy into the S3 bucket
            assert "REGISTRY s3://mlops-team/bentos/team-model/v1.bento" in out
            assert "CHECK http://127.0.0.1:" in out
            assert "'tracking': True" in out and "'monitoring workspace': True" in out
            assert "'DVC remote': True" in out and "'Bento registry': True" in out
            run_id = out.split("RUN ", 1)[1].split()[0]
            # The server's store is that database: the run and its parameter are rows there.
            assert query(backend, f"SELECT name FROM runs WHERE run_uuid = '{run_id}'") == [
                ("fit",)
            ]
            assert query(backend, f"SELECT value FROM params WHERE run_uuid = '{run_id}'") == [
                ("postgresql",)
            ]
            listing = boto3.client(
                "s3",
                endpoint_url=s3,
                region_name="us-east-1",
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            ).list_objects_v2(Bucket="mlops-team", Prefix="artifacts/")
            keys = [item["Key"] for item in listing.get("Contents", [])]
            assert [k for k in keys if k.endswith(f"/{run_id}/artifacts/notes.txt")], keys
        finally:
            down_line = next(line for line in up.stdout.splitlines() if "stop them:" in line)
            down = subprocess.run(  # the printed line, as printed
                shlex.split(down_line.split("stop them:", 1)[1]),
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        assert down.returncode == 0, down.stdout + down.stderr
        assert sorted(down.stdout.split("stopped: ", 1)[1].strip().split(", ")) == [
            "monitoring",
            "s3",
            "tracking",
        ]
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or b"Z" in _state(pid)
        after = _team(repo, env, "status")
        assert after.returncode == 1 and "no team services recorded" in after.stdout


def test_team_up_over_a_half_dead_set_stops_the_survivor_first(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".mlops" / "team").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    # A recorded set whose Evidently service died and whose S3 endpoint still runs.
    survivor = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)", "moto_server"],
        start_new_session=True,
    )
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    recorded = {"s3": {"pid": survivor.pid}, "monitoring": {"pid": dead.pid}}
    (repo / ".mlops" / "team" / "team.json").write_text(json.dumps(recorded))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
    env["MLOPS_TRACKING_OFFLINE_AFTER"] = "30"  # a busy machine is slow, not offline
    try:
        up = _team(repo, env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        try:
            assert survivor.wait(timeout=30) == -signal.SIGTERM  # stopped, not orphaned
            assert survivor.pid not in _pids(up.stdout)
            status = _team(repo, env, "status")
            assert status.stdout.count("  running") == 3, status.stdout
        finally:
            down = _team(repo, env, "down")
        assert down.returncode == 0, down.stdout + down.stderr
    finally:
        if survivor.poll() is None:
            os.killpg(survivor.pid, signal.SIGKILL)
            survivor.wait(timeout=30)
