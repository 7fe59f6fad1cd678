"""Tracking on real MLflow: everything logged is read back with MLflow's own client.

The same contract runs against the embedded sqlite store and against a real
`mlflow server` process on PostgreSQL.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError, MLOpsClientError, NotFoundError
from tests.conftest import require_torch

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "server"])
def tracked(request: pytest.FixtureRequest, repo: Path) -> Any:
    """A client on the sqlite store, or on the session's PostgreSQL-backed server."""
    if request.param == "sqlite":
        client = MLOpsClient.from_project("track-sqlite", repo_root=repo)
    else:
        server = request.getfixturevalue("mlflow_server")
        client = MLOpsClient.from_project("track-server", repo_root=repo, tracking_uri=server.url)
    yield client
    client.close(timeout=10)


def reader(client: MLOpsClient) -> MlflowClient:
    uri = client.settings.tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_run_params_metrics_tags_artifacts_read_back(tracked: MLOpsClient, tmp_path: Path) -> None:
    artifact = tmp_path / "notes.txt"
    artifact.write_text("hello")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"\x00\x01")
    with tracked.start_run(run_name="train", tags={"team": "lora"}, description="first") as run:
        tracked.log_params({"lr": 0.001, "epochs": 3, "optimizer": "adamw"})
        for step in range(5):
            tracked.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 5}, step=step)
        tracked.set_tags({"stage": "dev"})
        tracked.log_artifact(artifact)
        tracked.log_artifacts(folder, artifact_path="checkpoints")
    mlflow = reader(tracked)
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "train"
    assert got.data.params == {"lr": "0.001", "epochs": "3", "optimizer": "adamw"}
    assert got.data.tags["team"] == "lora" and got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.note.content"] == "first"
    assert got.data.tags["mlops.project"] == tracked.project
    history = mlflow.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1.0 / (s + 1)) for s in range(5)]
    assert len(mlflow.get_metric_history(run.info.run_id, "acc")) == 5
    names = {a.path for a in mlflow.list_artifacts(run.info.run_id)}
    assert {"notes.txt", "checkpoints"} <= names
    local = mlflow.download_artifacts(run.info.run_id, "checkpoints/a.bin", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == b"\x00\x01"
    experiment = mlflow.get_experiment(got.info.experiment_id)
    assert experiment.name == tracked.project
    assert experiment.tags["mlops.project"] == tracked.project


def test_sklearn_model_logged_registered_and_loaded(tracked: MLOpsClient) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    name = f"{tracked.project}-iris"
    with tracked.start_run() as run:
        info = tracked.log_model(model, "model", registered_model_name=name)
    assert info.run_id == run.info.run_id
    mlflow = reader(tracked)
    versions = mlflow.search_model_versions(f"name='{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert versions[0].run_id == run.info.run_id
    loaded = tracked.load_model(f"models:/{name}/1")
    assert (loaded.predict(x[:10]) == model.predict(x[:10])).all()
    again = tracked.register_model(f"runs:/{run.info.run_id}/model", name)
    assert str(again.version) == "2"


def test_torch_and_pyfunc_models(tracked: MLOpsClient) -> None:
    import mlflow.pyfunc

    torch: Any = require_torch()

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [2 * v for v in model_input["x"]]

    net = torch.nn.Linear(3, 1)
    with tracked.start_run() as run:
        torch_info = tracked.log_model(net, "net")
        py_info = tracked.log_model(Doubler(), "doubler")
    loaded = tracked.load_model(torch_info.model_uri, flavor="pytorch")
    sample = torch.ones(2, 3)
    assert torch.allclose(loaded(sample), net(sample))
    import pandas as pd

    doubled = tracked.load_model(py_info.model_uri).predict(pd.DataFrame({"x": [1, 2]}))
    assert list(doubled) == [2, 4]
    outputs = reader(tracked).get_run(run.info.run_id).outputs
    assert outputs is not None and len(outputs.model_outputs) == 2


def test_failed_and_nested_runs(tracked: MLOpsClient) -> None:
    with pytest.raises(RuntimeError, match="boom"), tracked.start_run(run_name="bad") as bad:
        raise RuntimeError("boom")
    with tracked.start_run(run_name="parent") as parent:
        with tracked.start_run(run_name="child", nested=True) as child:
            tracked.log_metrics({"inner": 1.0})
            assert tracked.active_run_id == child.info.run_id
        assert tracked.active_run_id == parent.info.run_id
    mlflow = reader(tracked)
    assert mlflow.get_run(bad.info.run_id).info.status == "FAILED"
    got_child = mlflow.get_run(child.info.run_id)
    assert got_child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert got_child.data.metrics == {"inner": 1.0}
    found = {r.info.run_id for r in tracked.search_runs()}
    assert {bad.info.run_id, parent.info.run_id, child.info.run_id} <= found


def test_nan_and_inf_are_logged_as_mlflow_stores_them(tracked: MLOpsClient) -> None:
    """MLflow's SQL stores keep NaN and clamp +/-inf to the largest finite double."""
    with tracked.start_run() as run:
        tracked.log_metrics({"nan": math.nan, "inf": math.inf, "ninf": -math.inf}, step=1)
    metrics = reader(tracked).get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == sys.float_info.max and metrics["ninf"] == -sys.float_info.max


BAD_METRICS: list[tuple[Any, str]] = [
    ({"loss": "high"}, "non-numeric"),
    ({"loss": None}, "non-numeric"),
    ({"a" * 251: 1.0}, "invalid metric name"),
    ({"bad\tkey": 1.0}, "invalid metric name"),
    ({"../escape": 1.0}, "invalid metric name"),
    ({"": 1.0}, "invalid metric name"),
    ([("loss", 1.0)], "must be a mapping"),
]


@pytest.mark.parametrize(("metrics", "message"), BAD_METRICS)
def test_bad_metrics_rejected_before_anything_is_written(
    client: MLOpsClient, metrics: Any, message: str
) -> None:
    with client.start_run() as run:
        with pytest.raises(InvalidInputError, match=message) as info:
            client.log_metrics({"ok": 1.0, **metrics} if isinstance(metrics, dict) else metrics)
        assert info.value.component == "tracking" and info.value.operation == "log_metrics"
    assert reader(client).get_run(run.info.run_id).data.metrics == {}


def test_bad_step_and_params(client: MLOpsClient, tmp_path: Path) -> None:
    with client.start_run() as run:
        with pytest.raises(InvalidInputError, match="step"):
            client.log_metrics({"loss": 1.0}, step="3")  # type: ignore[arg-type]
        client.log_params({"lr": 0.1})
        client.log_params({"lr": 0.1})  # same value again is fine
        with pytest.raises(InvalidInputError, match=r"already '0\.1'") as info:
            client.log_params({"batch": 32, "lr": 0.2})
        assert "immutable" in (info.value.hint or "")
        with pytest.raises(InvalidInputError, match="6000"):
            client.log_params({"long": "x" * 6001})
        with pytest.raises(NotFoundError, match="no file"):
            client.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(NotFoundError, match="no folder"):
            client.log_artifacts(tmp_path / "missing")
    assert reader(client).get_run(run.info.run_id).data.params == {"lr": "0.1"}


def test_logging_outside_a_run_is_a_clear_error(client: MLOpsClient, tmp_path: Path) -> None:
    calls = [
        lambda: client.log_metrics({"loss": 1.0}),
        lambda: client.log_params({"lr": 1}),
        lambda: client.set_tags({"a": "b"}),
        lambda: client.log_artifact(tmp_path),
        lambda: client.log_model(object(), "m"),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="needs an active run") as info:
            call()
        assert "start_run" in (info.value.hint or "")


def test_second_run_without_nested_is_rejected(client: MLOpsClient) -> None:
    with (
        client.start_run(),
        pytest.raises(InvalidInputError, match="nested=True"),
        client.start_run(),
    ):
        pass


def test_mlflow_errors_are_translated(client: MLOpsClient) -> None:
    """No MLflow exception escapes a public method untranslated (chained instead)."""
    from mlflow.exceptions import MlflowException

    cases = [
        lambda: client.load_model("models:/no-such-model/1"),
        lambda: client.register_model("runs:/0123456789abcdef/model", "x"),
        lambda: client.search_runs(filter_string="this is not a filter"),
        lambda: client.load_model("runs:/x/y", flavor="onnx"),
    ]
    for call in cases:
        with pytest.raises(MLOpsClientError) as info:
            call()
        assert not isinstance(info.value, MlflowException)
        assert info.value.component == "tracking" and info.value.operation
    with client.start_run(), pytest.raises(InvalidInputError, match="cannot log"):
        client.log_model(object(), "m")


def test_unsupported_file_store_is_a_configuration_error(repo: Path) -> None:
    client = MLOpsClient.from_project("p", repo_root=repo, tracking_uri="file:///tmp/mlruns")
    with pytest.raises(MLOpsClientError, match="no longer supports") as info:
        _ = client.mlflow_client
    assert "sqlite" in (info.value.hint or "")


def test_two_projects_on_two_stores_in_one_process(tmp_path: Path) -> None:
    """MLflow's process-wide URIs are borrowed for model logging and given back intact."""
    from sklearn.linear_model import LinearRegression

    a = MLOpsClient.from_project("a", repo_root=tmp_path / "a")
    b = MLOpsClient.from_project("b", repo_root=tmp_path / "b")
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with a.start_run():
        a.log_model(model, "m", registered_model_name="only-in-a")
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert reader(a).search_model_versions("name='only-in-a'")
    assert not reader(b).search_model_versions("name='only-in-a'")
    with b.start_run():
        b.log_model(model, "m", registered_model_name="only-in-b")
    assert not reader(a).search_model_versions("name='only-in-b'")
    a.close()
    b.close()
