"""`mlops demo` end to end, twice in a fresh folder, each artifact checked in its real tool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.demo import MODEL_NAME, PROJECT
from tests.conftest import with_terminal_signals

pytestmark = pytest.mark.integration
MLOPS = str(Path(sys.executable).with_name("mlops"))
REPO = Path(__file__).resolve().parents[2]
# Long-running commands the demo prints, and the URL that answers once each is up.
SERVERS = {
    " ui --backend-store-uri ": "http://127.0.0.1:5000/health",
    "mlops dashboard ": "http://127.0.0.1:8765/",
    "mlops monitor ui ": "http://127.0.0.1:8000/",
}


def user_shell_env(**extra: str) -> dict[str, str]:
    """A user's shell after the README's install: no project venv on PATH, no uv-run state."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    skip = ("MLOPS_", "VIRTUAL_ENV", "UV_RUN_RECURSION_DEPTH", "UV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip) or k == "UV_CACHE_DIR"}
    return env | {"PATH": path, "COLUMNS": "200"} | extra


def run_demo(folder: Path) -> str:
    """The README's first command (uv is installed), run from the clone into ``folder``."""
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH: the README's first command needs it")
    out = subprocess.run(
        ["uv", "run", "--frozen", "--extra", "demo", "mlops", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=user_shell_env(),
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def run_demo_keep_serving(folder: Path) -> str:
    """The second run with --keep-serving: the endpoint answers until Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    proc = subprocess.Popen(
        with_terminal_signals([MLOPS, "demo", "--dir", str(folder), "--keep-serving"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env | {"COLUMNS": "200"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("serving at "):
            break
    url = lines[-1].split()[2].rstrip(";")
    body = json.dumps({"data": [[0.0] * 30]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200 and len(json.loads(resp.read())) == 1
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(request, timeout=5)
    return "".join(lines)


@pytest.fixture(scope="module")
def demo_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("fresh") / "demo"
    return folder, [run_demo(folder), run_demo_keep_serving(folder)]


def test_demo_runs_twice_and_summarises(demo_twice: tuple[Path, list[str]]) -> None:
    _, outputs = demo_twice
    for n, out in enumerate(outputs, start=1):
        assert "mlops demo finished in" in out
        assert f"{MODEL_NAME} v{n}" in out
        assert "served = local predictions │ yes" in out
        assert "DRIFT" in out and "fired" in out
        assert "mlflow ui --backend-store-uri" in out and "mlops dashboard" in out
    assert "(stopped)" in outputs[0] and "(stopped)" not in outputs[1]


def printed_next_steps(out: str) -> list[str]:
    lines = out.splitlines()
    start = lines.index("where to look next:") + 1
    return [x.strip() for x in lines[start:] if x.startswith("  ") and "report:" not in x]


def test_the_demo_prints_only_its_own_lines(demo_twice: tuple[Path, list[str]]) -> None:
    _, outputs = demo_twice
    for noise in ("INFO", "WARNING", "Successfully registered", "Creating initial MLflow"):
        assert noise not in outputs[0], noise


def test_every_printed_next_step_runs_as_printed(
    demo_twice: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _, outputs = demo_twice
    steps = printed_next_steps(outputs[0])
    assert len(steps) == 5 and all("--repo-root" in s or "ui" in s for s in steps)
    for line in steps:
        server = next((url for marker, url in SERVERS.items() if marker in line + " "), None)
        if server is None:
            done = subprocess.run(
                line, shell=True, capture_output=True, text=True, cwd=tmp_path,
                env=user_shell_env(), timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
            assert MODEL_NAME in done.stdout or "demo-train" in done.stdout, line
            if " lineage " in line:  # yes/no facts read yes/no; limits are not check results
                assert "dataset_drift=yes" in done.stdout and "_limit" not in done.stdout
        else:
            assert_serves(line, server, tmp_path)


def assert_serves(line: str, url: str, cwd: Path) -> None:
    """Start a printed server command as printed, wait until ``url`` answers, stop it."""
    proc = subprocess.Popen(
        line, shell=True, cwd=cwd, env=user_shell_env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"{line} exited: {proc.stderr.read()[-2000:]}"  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert resp.status == 200
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        pytest.fail(f"{line} did not answer at {url}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_each_artifact_exists_in_its_tool(demo_twice: tuple[Path, list[str]]) -> None:
    folder, _ = demo_twice
    client = MLOpsClient.from_project(PROJECT, repo_root=folder)
    mlflow = MlflowClient(client.settings.tracking_uri)
    versions = sorted(int(v.version) for v in mlflow.search_model_versions(f"name='{MODEL_NAME}'"))
    assert versions == [1, 2]
    chain = client.lineage(MODEL_NAME)
    run = mlflow.get_run(chain["run"]["run_id"])
    assert run.info.status == "FINISHED"
    assert {"train_accuracy", "val_accuracy", "val_log_loss"} <= set(run.data.metrics)
    assert any(k.startswith("system/cpu") for k in run.data.metrics)  # the sampler ran
    assert len(mlflow.get_metric_history(run.info.run_id, "val_accuracy")) == 15
    # DVC: the data file is tracked and its content is in the remote
    dvc_file = yaml.safe_load((folder / "data" / "train.csv.dvc").read_text())
    md5 = dvc_file["outs"][0]["md5"]
    remote_objects = {
        p.parent.name + p.name for p in (folder / ".mlops" / "dvc-remote").rglob("*") if p.is_file()
    }
    assert md5 in remote_objects
    # BentoML: the Bento is in the project's store
    bento = client.bento_store.get(chain["bentos"][0]["tag"])
    assert bento.info.labels["registered_version"] == "2"
    # Evidently: both checks are snapshots in the workspace
    from evidently.ui.workspace import Workspace

    workspace = Workspace(str(folder / ".mlops" / "evidently"))
    project = workspace.search_project(PROJECT)[0]
    assert len(workspace.list_runs(project.id)) == 2
    client.close()


def test_lineage_matches_dvc_and_names_the_run(demo_twice: tuple[Path, list[str]]) -> None:
    folder, outputs = demo_twice
    client = MLOpsClient.from_project(PROJECT, repo_root=folder)
    chain = client.lineage(MODEL_NAME, "2")
    dvc_md5 = yaml.safe_load((folder / "data" / "train.csv.dvc").read_text())["outs"][0]["md5"]
    assert [d["md5"] for d in chain["data"]] == [dvc_md5]
    assert chain["data"][0]["path"] == "data/train.csv"
    run_id = chain["run"]["run_id"]
    assert run_id in outputs[1] and chain["model"]["run_id"] == run_id
    assert chain["run"]["params"]["epochs"] == "15"
    assert chain["bentos"] and all(b["labels"]["run_id"] == run_id for b in chain["bentos"])
    assert chain["bentos"][0]["labels"]["data_versions"][0]["md5"] == dvc_md5
    assert chain["monitoring"]["checks"] == 2
    assert chain["monitoring"]["latest"]["dataset_drift"] == 1.0
    assert chain["monitoring"]["reference"]["digest"]
    first = client.lineage(MODEL_NAME, "1")
    assert first["run"]["run_id"] != run_id  # each version keeps its own run
    client.close()
