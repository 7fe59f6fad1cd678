"""Serving on real BentoML: logged models become Bentos, served over real HTTP.

Servers take 5-30 s to start, so each is started once per session and shared.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops.errors import (
    ComponentUnavailableError,
    ConnectionFailedError,
    InvalidInputError,
    NotFoundError,
)
from tests.conftest import require_torch, uninstall

pytestmark = pytest.mark.timeout(300)

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DATA_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MLOPS = [sys.executable, "-c", "from mlops.cli import main; main()"]

PREDICTOR_SOURCE = '''
import json
from pathlib import Path


class WeightedSum:
    """Folder model: weights.json holds one weight per feature."""

    def __init__(self, path):
        self.weights = json.loads((Path(path) / "weights.json").read_text())

    def predict(self, data):
        if isinstance(data[0], dict):
            data = [[row[k] for k in sorted(row)] for row in data]
        return [sum(w * x for w, x in zip(self.weights, row)) for row in data]
'''


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One project with a scikit-learn and a PyTorch model logged in real MLflow runs."""
    from mlops.client import MLOpsClient

    root = tmp_path_factory.mktemp("serving") / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("MLOPS_")]:
            mp.delenv(name)
        mp.chdir(root)
        client = MLOpsClient.from_project("serving-test", repo_root=root)
        yield {"client": client, "root": root, **_log_models(client)}
        client.close(timeout=10)


def _log_models(client: Any) -> dict[str, Any]:
    import pandas as pd
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(x, columns=FEATURES)
    sk_model = LogisticRegression(max_iter=300).fit(frame, y)
    with client.start_run(run_name="train") as run:
        client.log_model(
            sk_model, "model", registered_model_name="iris-clf", input_example=frame.head(3)
        )
        source = json.dumps(
            {"path": "data/iris.csv", "md5": DATA_MD5, "remote": "mlops", "rev": None}
        )
        dataset = Dataset(name="data/iris.csv", digest=DATA_MD5, source_type="dvc", source=source)
        client.mlflow_client.log_inputs(
            run.info.run_id,
            datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])],
        )
    logged = {"x": x, "frame": frame, "sk_model": sk_model, "run_id": run.info.run_id}
    return logged | _log_torch_model(client, x)


def _log_torch_model(client: Any, x: Any) -> dict[str, Any]:
    """A small PyTorch net in its own run, where torch is installed (else nothing)."""
    try:
        import torch
    except ImportError:
        return {}
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    with client.start_run(run_name="torch") as torch_run:
        client.log_model(net, "net", input_example=x[:2].astype(np.float32))
    return {"net": net, "torch_run_id": torch_run.info.run_id}


@pytest.fixture(scope="session")
def sk_deployed(env: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = env["client"].deploy_model(f"runs:/{env['run_id']}/model", "iris-clf")
    return result


@pytest.fixture(scope="session")
def sk_server(env: dict[str, Any], sk_deployed: dict[str, Any]) -> Iterator[Any]:
    with env["client"].serve(sk_deployed["bento_tag"]) as server:
        yield server


def _post(server: Any, body: bytes) -> tuple[int, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read().decode()


def test_deploy_from_run_returns_tags_api_and_lineage(
    env: dict[str, Any], sk_deployed: dict[str, Any]
) -> None:
    assert sk_deployed["model_tag"].startswith("iris-clf:")
    assert sk_deployed["bento_tag"].startswith("iris-clf:")
    assert Path(sk_deployed["bento_path"], "bento.yaml").is_file()
    assert Path(sk_deployed["bento_path"]).is_relative_to(env["root"] / ".mlops" / "bentoml")
    assert sk_deployed["api"]["route"] == "/predict"
    assert sk_deployed["api"]["columns"] == FEATURES
    labels = sk_deployed["labels"]
    assert labels["project"] == "serving-test"
    assert labels["run_id"] == env["run_id"]
    assert labels["registered_model"] == "iris-clf" and labels["registered_version"] == "1"
    assert [d["md5"] for d in labels["data_versions"]] == [DATA_MD5]
    bento_yaml = Path(sk_deployed["bento_path"], "bento.yaml").read_text()
    assert env["run_id"] in bento_yaml and DATA_MD5 in bento_yaml


def test_rows_over_http_match_local_predictions(env: dict[str, Any], sk_server: Any) -> None:
    rows = env["x"][::7].tolist()
    assert sk_server.predict(rows) == env["sk_model"].predict(env["frame"].iloc[::7]).tolist()


def test_records_over_http_match_local_predictions(env: dict[str, Any], sk_server: Any) -> None:
    records = env["frame"].iloc[::5][list(reversed(FEATURES))].to_dict(orient="records")
    status, body = _post(sk_server, json.dumps({"data": records}).encode())
    assert status == 200
    assert json.loads(body) == env["sk_model"].predict(env["frame"].iloc[::5]).tolist()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", ""),
        (b'{"rows": [[1, 2, 3, 4]]}', "data"),
        (b'{"data": []}', "empty"),
        (b'{"data": [[1, 2]]}', "4 values"),
        (b'{"data": [{"sepal_length": 1}]}', "petal_length"),
        (b'{"data": [[1, 2, 3, 4], {"a": 1}]}', ""),
        (b'{"data": [["a", "b", "c", "d"]]}', "signature"),
    ],
)
def test_malformed_body_is_4xx_and_server_keeps_serving(
    env: dict[str, Any], sk_server: Any, body: bytes, says: str
) -> None:
    status, text = _post(sk_server, body)
    assert 400 <= status < 500, text
    assert says in text
    assert (
        sk_server.predict(env["x"][:2].tolist())
        == env["sk_model"].predict(env["frame"].head(2)).tolist()
    )


def test_predict_raises_invalid_input_on_4xx(sk_server: Any) -> None:
    with pytest.raises(InvalidInputError, match="HTTP 400"):
        sk_server.predict([[1.0, 2.0]])


def test_latency_is_recorded_per_request(env: dict[str, Any], sk_server: Any) -> None:
    before = len(sk_server.latencies_ms)
    for _ in range(3):
        sk_server.predict(env["x"][:1].tolist())
    stats = sk_server.latency_stats()
    assert len(sk_server.latencies_ms) == before + 3
    assert stats["count"] >= 3 and 0 < stats["p50_ms"] <= stats["p99_ms"]


def test_latency_is_logged_on_a_run(env: dict[str, Any], sk_server: Any) -> None:
    client = env["client"]
    sk_server.predict(env["x"][:4])  # a numpy array is accepted too
    with client.start_run(run_name="serving-latency") as run:
        stats = client.log_serving_latency(sk_server)
    client.flush(30)
    metrics = client.mlflow_client.get_run(run.info.run_id).data.metrics
    assert metrics["serving/latency_p50_ms"] == pytest.approx(stats["p50_ms"])
    assert metrics["serving/latency_count"] == stats["count"] >= 1


def test_deploy_from_registry_and_serve_the_model_tag(env: dict[str, Any]) -> None:
    client = env["client"]
    result = client.deploy_model(
        "models:/iris-clf/1", "iris-registry", model_version="v1", build_bento=False
    )
    assert result["model_tag"] == "iris-registry:v1" and result["bento_tag"] is None
    assert result["labels"]["run_id"] == env["run_id"]
    assert result["labels"]["registered_version"] == "1"
    with client.serve(result["model_tag"]) as server:
        rows = env["x"][:10].tolist()
        assert server.predict(rows) == env["sk_model"].predict(env["frame"].head(10)).tolist()
    assert not server.running


def test_pytorch_model_on_cpu(env: dict[str, Any]) -> None:
    torch: Any = require_torch()

    client = env["client"]
    result = client.deploy_model(f"runs:/{env['torch_run_id']}/net", "iris-net")
    rows = env["x"][:6].astype(np.float32)
    with client.serve(result["bento_tag"]) as server:
        served = np.asarray(server.predict(rows.tolist()))
        with pytest.raises(InvalidInputError, match="4 values"):  # a tensor signature's width
            server.predict([[1.0, 2.0]])
        with pytest.raises(InvalidInputError, match="lists of numbers"):
            server.predict([["a", "b", "c", "d"]])
    expected = env["net"](torch.from_numpy(rows)).detach().numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)


def test_folder_with_predictor_then_stop_after_the_server_died(
    env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "toy_predictor.py").write_text(PREDICTOR_SOURCE)
    monkeypatch.syspath_prepend(str(code))
    model_dir = tmp_path / "adapter"
    model_dir.mkdir()
    (model_dir / "weights.json").write_text("[1.0, 2.0, 3.0]")
    result = env["client"].deploy_model(model_dir, "toy", predictor="toy_predictor:WeightedSum")
    assert result["labels"]["run_id"] is None
    server = env["client"].serve(result["bento_tag"])
    try:
        assert server.predict([[1, 1, 1], [0, 1, 0]]) == [6.0, 2.0]
        assert server.predict([{"a": 1, "b": 0, "c": 2}]) == [7.0]
        os.killpg(server.pid, signal.SIGKILL)
        server.process.wait(10)
        assert server.stop() is False
        with pytest.raises(ConnectionFailedError):
            server.predict([[1, 1, 1]])
    finally:
        server.stop()


def test_unknown_model_uris(env: dict[str, Any]) -> None:
    client = env["client"]
    for uri in (
        "runs:/0123456789abcdef0123456789abcdef/model",
        "models:/no-such-model/1",
        "models:/iris-clf/99",
        "models:/iris-clf@champion",
        "models:/m-0000",
    ):
        with pytest.raises(NotFoundError) as info:
            client.deploy_model(uri, "nothing")
        assert info.value.component == "serving"
    with pytest.raises(InvalidInputError, match="cannot read the model URI"):
        client.deploy_model("runs:/only-a-run-id", "nothing")


def test_folder_without_predictor(env: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a predictor") as info:
        env["client"].deploy_model(tmp_path, "folder")
    assert "package.module:Class" in (info.value.hint or "")
    with pytest.raises(InvalidInputError, match="cannot import predictor"):
        env["client"].deploy_model(tmp_path, "folder", predictor="no_such_module:Thing")
    with pytest.raises(NotFoundError):
        env["client"].deploy_model(tmp_path / "missing", "folder", predictor="json:JSONDecoder")


def test_bad_names_and_taken_versions(env: dict[str, Any], sk_deployed: dict[str, Any]) -> None:
    client = env["client"]
    with pytest.raises(InvalidInputError, match="not a valid BentoML tag part") as info:
        client.deploy_model(f"runs:/{env['run_id']}/model", "Iris Classifier")
    assert "iris-classifier" in (info.value.hint or "")
    version = sk_deployed["model_tag"].partition(":")[2]
    with pytest.raises(InvalidInputError, match="exists already"):
        client.deploy_model(f"runs:/{env['run_id']}/model", "iris-clf", model_version=version)


def test_port_already_in_use(env: dict[str, Any], sk_deployed: dict[str, Any]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(InvalidInputError, match=f"port {port}"):
            env["client"].serve(sk_deployed["bento_tag"], port=port)


def test_serve_unknown_tag(env: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError, match="no Bento and no model"):
        env["client"].serve("nothing:here")


def test_containerize_fails_at_once_without_docker(
    env: dict[str, Any], sk_deployed: dict[str, Any]
) -> None:
    from mlops.serving._bentoml import docker_problem

    if docker_problem() is None:
        pytest.skip("a Docker engine runs here")
    with pytest.raises(ConnectionFailedError, match="Docker") as info:
        env["client"].containerize(sk_deployed["bento_tag"])
    assert sk_deployed["bento_path"] in (info.value.hint or "")
    assert info.value.details["bento_path"] == sk_deployed["bento_path"]


def test_deploy_without_bentoml(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uninstall(monkeypatch, "bentoml")
    with pytest.raises(ComponentUnavailableError) as info:
        client.deploy_model("models:/anything/1", "anything")
    assert info.value.component == "serving"
    assert "mlops[serving]" in (info.value.hint or "")


def test_cli_deploy_and_serve_errors(env: dict[str, Any]) -> None:
    root = str(env["root"])
    args = [
        "deploy",
        "models:/iris-clf/1",
        "--name",
        "iris-cli",
        "--no-build",
        "-p",
        "serving-test",
        "--repo-root",
        root,
    ]
    done = subprocess.run([*MLOPS, *args], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model_tag"].startswith("iris-cli:")
    bad = subprocess.run(
        [*MLOPS, "serve", "nothing:here", "-p", "serving-test", "--repo-root", root],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "no Bento and no model" in bad.stderr
