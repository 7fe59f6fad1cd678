"""The dict ``monitor_predictions`` returns, the numbers it logs to MLflow, the alert event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from mlops.monitoring.outcome import CheckOutcome
from mlops.monitoring.schema import ReferenceSchema
from mlops.monitoring.thresholds import Verdict

__all__ = ["alert_event", "build_result", "mlflow_metrics"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :]")


def build_result(
    outcome: CheckOutcome,
    verdict: Verdict,
    schema: ReferenceSchema,
    sampled: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the plain-Python result of one check.

    ``extra`` carries what the facade knows: project, check number, report
    path, Evidently ids, latency and memory, MLflow run id, warnings.
    """
    current = sampled.get("current", {})
    return {
        **outcome.as_dict(),
        "alerts": verdict.alerts,
        "retraining_suggested": verdict.retraining_suggested,
        "reasons": verdict.reasons,
        "sampled": {**current, "reference": sampled.get("reference", {})},
        "reference": {
            "digest": schema.digest,
            "rows": schema.rows,
            "created_at": schema.created_at,
        },
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def mlflow_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The key numbers of a check, as MLflow metrics of the monitoring run."""
    values: dict[str, float] = {
        "drift_share": float(result["drift_share"]),
        "dataset_drift": float(result["drift_detected"]),
        "drifted_columns": float(len(result["drifted_columns"])),
        "retraining_suggested": float(result["retraining_suggested"]),
        "alerts": float(len(result["alerts"])),
        "rows": float(result["rows"]),
    }
    for name, drift in result["column_drift"].items():
        values[f"drift/{_safe(name)}"] = float(drift["score"])
    for role in ("target_drift", "prediction_drift"):
        if result.get(role):
            values[f"{role}_score"] = float(result[role]["score"])
            values[role] = float(result[role]["drifted"])
    for name, perf in result["performance"].items():
        values[f"perf/{name}"] = float(perf["value"])
        if perf["reference"] is not None:
            values[f"perf/{name}_reference"] = float(perf["reference"])
    for key in ("latency_ms", "memory_mb"):
        if result.get(key) is not None:
            values[key] = float(result[key])
    return values


def alert_event(result: dict[str, Any]) -> dict[str, Any]:
    """The event alert handlers receive (see :mod:`mlops.monitoring.alerts`)."""
    keys = ("project", "check", "timestamp", "alerts", "retraining_suggested", "reasons")
    event = {key: result.get(key) for key in keys}
    event.update(
        report_path=result.get("report_path"),
        drift_share=result["drift_share"],
        drifted_columns=result["drifted_columns"],
    )
    return event


def _safe(name: str) -> str:
    """A column name as an MLflow key part (letters, digits, ``_ - . :`` and space)."""
    cleaned = _UNSAFE.sub("_", name)[:200]
    return "_" if cleaned.strip(". ") == "" else cleaned
