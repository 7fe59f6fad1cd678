"""Data versions on MLflow runs: the shared lineage format.

A DVC data version is recorded on a run as an MLflow dataset input::

    Dataset(name=<repo-relative path>, digest=<DVC md5>, source_type="dvc",
            source=<JSON {"path", "md5", "remote", "rev", "size", "nfiles"}>)

with the input tag ``mlflow.data.context`` (default ``training``). This module
only converts between data versions and the tracking adapter's plain dataset
records (``name``, ``digest``, ``source_type``, ``source``, ``context``); it
imports neither MLflow nor DVC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mlops.errors import redact

__all__ = [
    "SOURCE_KEYS",
    "SOURCE_TYPE",
    "compare_versions",
    "dataset_records",
    "source_json",
    "versions_from_datasets",
]

SOURCE_TYPE = "dvc"
SOURCE_KEYS = ("path", "md5", "remote", "rev", "size", "nfiles")


def source_json(version: Mapping[str, Any]) -> str:
    """The dataset ``source`` of one data version: a JSON object, secrets redacted."""
    source = {key: version.get(key) for key in SOURCE_KEYS}
    if isinstance(source["remote"], str):
        source["remote"] = redact(source["remote"])
    return json.dumps(source, sort_keys=True)


def dataset_records(versions: Iterable[Mapping[str, Any]], context: str) -> list[dict[str, str]]:
    """Dataset inputs for ``versions`` (each needs ``path`` and ``md5``), as plain records."""
    return [
        {
            "name": v["path"],
            "digest": v["md5"],
            "source_type": SOURCE_TYPE,
            "source": source_json(v),
            "context": context,
        }
        for v in versions
        if v.get("md5")
    ]


def versions_from_datasets(datasets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The DVC data versions among a run's dataset records, oldest input first."""
    out = []
    for dataset in datasets:
        if dataset.get("source_type") != SOURCE_TYPE:
            continue
        try:
            source = json.loads(dataset["source"])
        except (TypeError, ValueError):
            source = {}
        if not isinstance(source, dict):
            source = {}
        out.append(
            {
                **source,
                "path": dataset["name"],
                "md5": dataset["digest"],
                "context": dataset.get("context"),
            }
        )
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
