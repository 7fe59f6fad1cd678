"""Data versions on MLflow runs: the shared lineage format.

A DVC data version is recorded on a run as an MLflow dataset input::

    Dataset(name=<repo-relative path>, digest=<DVC md5>, source_type="dvc",
            source=<JSON {"path", "md5", "remote", "rev", "size", "nfiles"}>)

with the input tag ``mlflow.data.context`` (default ``training``). MLflow's
entities are imported inside the functions: this module loads without MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mlops.errors import MLOpsClientError, NotFoundError, redact

__all__ = [
    "CONTEXT_TAG",
    "SOURCE_KEYS",
    "SOURCE_TYPE",
    "compare_versions",
    "dataset_inputs",
    "map_mlflow_error",
    "source_json",
    "versions_from_run",
]

SOURCE_TYPE = "dvc"
CONTEXT_TAG = "mlflow.data.context"
SOURCE_KEYS = ("path", "md5", "remote", "rev", "size", "nfiles")


def source_json(version: Mapping[str, Any]) -> str:
    """The dataset ``source`` of one data version: a JSON object, secrets redacted."""
    source = {key: version.get(key) for key in SOURCE_KEYS}
    if isinstance(source["remote"], str):
        source["remote"] = redact(source["remote"])
    return json.dumps(source, sort_keys=True)


def dataset_inputs(versions: Iterable[Mapping[str, Any]], context: str) -> list[Any]:
    """MLflow ``DatasetInput`` entities for ``versions`` (each needs ``path`` and ``md5``)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    return [
        DatasetInput(
            dataset=Dataset(
                name=v["path"], digest=v["md5"], source_type=SOURCE_TYPE, source=source_json(v)
            ),
            tags=[InputTag(key=CONTEXT_TAG, value=context)],
        )
        for v in versions
        if v.get("md5")
    ]


def versions_from_run(run: Any) -> list[dict[str, Any]]:
    """The DVC data versions recorded on an MLflow ``Run``, oldest input first."""
    out = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        dataset = item.dataset
        if dataset.source_type != SOURCE_TYPE:
            continue
        try:
            source = json.loads(dataset.source)
        except (TypeError, ValueError):
            source = {}
        context = next((t.value for t in item.tags if t.key == CONTEXT_TAG), None)
        out.append({**source, "path": dataset.name, "md5": dataset.digest, "context": context})
    return out


def compare_versions(
    used: Iterable[Mapping[str, Any]], current: Mapping[str, Mapping[str, Any] | None]
) -> list[dict[str, Any]]:
    """Per data version a run used: has the tracked data changed since?

    Args:
        used: Versions from :func:`versions_from_run`.
        current: For each path, what its ``.dvc`` file records now (with
            ``modified`` when the workspace differs), or None if untracked.
    """
    rows = []
    for version in used:
        now = current.get(version["path"])
        now_md5 = now.get("md5") if now else None
        modified = bool(now and now.get("modified"))
        rows.append(
            {
                "path": version["path"],
                "run_md5": version["md5"],
                "current_md5": now_md5,
                "tracked": now is not None,
                "workspace_modified": modified,
                "changed": now_md5 != version["md5"] or modified,
            }
        )
    return rows


def map_mlflow_error(exc: BaseException) -> MLOpsClientError | None:
    """Translate MLflow's "no such run" into :class:`NotFoundError` (matched by error code)."""
    if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
        return NotFoundError(str(exc), hint="check the run ID (`mlflow runs list` or the UI)")
    return None
