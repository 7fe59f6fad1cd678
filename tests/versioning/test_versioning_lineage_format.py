"""The shared lineage format: DVC data versions as MLflow dataset inputs."""

from __future__ import annotations

import json

from mlops.versioning import lineage

VERSION = {
    "path": "data/train.csv",
    "md5": "0" * 32,
    "size": 10,
    "nfiles": 1,
    "remote": "s3://bob:pw@bucket/p",
    "rev": "abc",
    "dvc_file": "data/train.csv.dvc",
}


def test_dataset_inputs_follow_the_shared_format() -> None:
    (ds,) = lineage.dataset_records([VERSION], "validation")
    assert (ds["name"], ds["digest"], ds["source_type"]) == ("data/train.csv", "0" * 32, "dvc")
    source = json.loads(ds["source"])
    assert sorted(source) == sorted(lineage.SOURCE_KEYS)
    assert source["remote"] == "s3://bob:***@bucket/p"
    assert ds["context"] == "validation"


def test_versions_round_trip_through_a_run_and_ignore_other_datasets() -> None:
    (item,) = lineage.dataset_records([VERSION], "training")
    other = {"name": "df", "digest": "1", "source_type": "local", "source": "{}", "context": None}
    (back,) = lineage.versions_from_datasets([other, item])
    assert back["md5"] == VERSION["md5"] and back["context"] == "training"
    assert back["rev"] == "abc" and back["size"] == 10


def test_compare_versions_flags_new_md5_and_modified_workspace() -> None:
    used = [{"path": "a", "md5": "1"}, {"path": "b", "md5": "2"}, {"path": "c", "md5": "3"}]
    now = {"a": {"md5": "1", "modified": False}, "b": {"md5": "9"}, "c": None}
    rows = {r["path"]: r for r in lineage.compare_versions(used, now)}
    assert not rows["a"]["changed"]
    assert rows["b"]["changed"] and rows["b"]["current_md5"] == "9"
    assert rows["c"]["changed"] and not rows["c"]["tracked"]


def test_unknown_run_maps_to_not_found() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    from mlops.errors import NotFoundError
    from mlops.tracking._errors import MLFLOW_ERRORS

    exc = MlflowException("Run 'x' not found", error_code=RESOURCE_DOES_NOT_EXIST)
    assert isinstance(MLFLOW_ERRORS(exc), NotFoundError)
    assert MLFLOW_ERRORS(ValueError("other")) is None
