"""`mlops team up` / `down` on this machine: the commands run as printed, a project pointed
at the services by `MLOPS_CONFIG` alone logs, versions data, pushes a Bento and monitors
through them, and `down` stops every process it started."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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
client.close()
"""


def _pids(text: str) -> list[int]:
    return [int(word.rstrip(")")) for word in text.split() if word.rstrip(")").isdigit()]


def test_team_up_runs_as_printed_serves_a_project_and_down_stops_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AWS_"))}
    up = subprocess.run(
        [MLOPS, "team", "up", "--repo-root", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        pids = _pids(up.stdout)
        assert len(pids) == 3
        export = next(line for line in up.stdout.splitlines() if "export MLOPS_CONFIG=" in line)
        for pair in shlex.split(export.strip())[1:]:  # the printed line, as a shell runs it
            key, _, value = pair.partition("=")
            env[key] = value
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
    finally:
        down_line = next(line for line in up.stdout.splitlines() if "stop them:" in line)
        down = subprocess.run(
            shlex.split(down_line.split("stop them:", 1)[1]),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped: " in down.stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or b"Z" in _state(pid)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().split()[2]
    except OSError:
        return b"Z"
