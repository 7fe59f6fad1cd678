"""MLflow's entities as plain data: the only shapes that leave the MLflow adapter.

Part of the MLflow adapter (it reads MLflow entities, imports nothing of MLflow).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DATASET_CONTEXT_TAG",
    "datasets_of",
    "model_version_record",
    "run_record",
    "version_model_id",
]

DATASET_CONTEXT_TAG = "mlflow.data.context"


def run_record(run: Any) -> dict[str, Any]:
    """A run as plain data: ids, name, status, times, params, latest metrics, tags, datasets."""
    info = run.info
    return {
        "run_id": info.run_id,
        "experiment_id": str(info.experiment_id),
        "name": info.run_name or info.run_id[:8],
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": dict(run.data.tags),
        "datasets": datasets_of(run),
    }


def datasets_of(run: Any) -> list[dict[str, Any]]:
    """A run's dataset inputs: ``name``, ``digest``, ``source_type``, ``source``, ``context``."""
    out = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        dataset = item.dataset
        context = next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), None)
        out.append(
            {
                "name": dataset.name,
                "digest": dataset.digest,
                "source_type": dataset.source_type,
                "source": dataset.source,
                "context": context,
            }
        )
    return out


def model_version_record(v: Any) -> dict[str, Any]:
    """A registered model version as plain data."""
    return {
        "name": v.name,
        "version": str(v.version),
        "run_id": v.run_id or None,
        "source": v.source,
        "status": v.status,
        "creation_timestamp": v.creation_timestamp,
        "aliases": list(getattr(v, "aliases", []) or []),
        "model_id": version_model_id(v),
    }


def version_model_id(version: Any) -> str | None:
    """The logged model behind a registered version (``model_id``, else ``models:/m-`` source)."""
    model_id = getattr(version, "model_id", None)
    source = str(getattr(version, "source", "") or "")
    if not model_id and source.startswith("models:/m-"):
        model_id = source[len("models:/") :].split("/", maxsplit=1)[0]
    return str(model_id) if model_id else None
