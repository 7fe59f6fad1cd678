"""A local MLflow model folder (MLmodel) records the lineage of the run that logged it.

Real MLflow (sqlite), real DVC in a real git repository, real BentoML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _download(client: Any, model_id: str, dst: Path) -> Path:
    """A logged model's files, fetched with MLflow's own API from where the store keeps them."""
    import mlflow.artifacts

    where = client.mlflow_client.get_logged_model(model_id).artifact_location
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=where, dst_path=str(dst)))


def test_folder_of_a_logged_model_records_its_run(client: Any, repo: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("x,y\n0,0\n1,1\n")
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]], [0, 1, 0, 1])
    with client.start_run(run_name="train") as run:
        data = client.dvc_add("data/train.csv")
        info = client.log_model(model, "model", registered_model_name="sk-folder")
    folder = _download(client, info.model_id, repo / "downloaded")
    assert (folder / "MLmodel").is_file()

    result = client.deploy_model(folder, "sk-folder")
    labels = result["labels"]
    assert labels["run_id"] == run.info.run_id
    assert labels["model_id"] == info.model_id
    assert (labels["registered_model"], labels["registered_version"]) == ("sk-folder", "1")
    assert [d["md5"] for d in labels["data_versions"]] == [data["md5"]]
    assert labels["source_uri"] == str(folder.resolve())
    stored = client.bento_store.get(result["bento_tag"]).info.labels  # what the Bento keeps
    assert stored["run_id"] == run.info.run_id and stored["registered_version"] == "1"
    assert data["md5"] in stored["data_versions"]
    assert client.api_route(result["bento_tag"]) == "/predict"


def test_folder_from_another_store_deploys_without_lineage(client: Any, repo: Path) -> None:
    """An MLmodel naming a run and model this store does not have: served, no run recorded."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    folder = repo / "elsewhere"
    mlflow.sklearn.save_model(model, str(folder))
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel.update(run_id="0" * 32, model_id="m-" + "0" * 32, model_uuid="m-" + "0" * 32)
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))

    result = client.deploy_model(folder, "foreign", build_bento=False)
    labels = result["labels"]
    assert labels["run_id"] is None and labels["model_id"] is None
    assert labels["registered_model"] is None and labels["data_versions"] == []
    assert result["model_tag"].startswith("foreign:")
