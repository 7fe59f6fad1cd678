"""The dict ``monitor_predictions`` returns, the numbers it logs to MLflow, the alert event."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from mlops.monitoring.outcome import CheckOutcome
from mlops.monitoring.schema import ReferenceSchema
from mlops.monitoring.thresholds import Verdict, performance_limit

__all__ = ["BOOLEAN_METRICS", "LIMIT_SUFFIX", "alert_event", "build_result", "mlflow_metrics"]

#: Monitoring-run metrics that are yes/no facts (MLflow stores them as 1.0 / 0.0).
BOOLEAN_METRICS = frozenset(
    {"dataset_drift", "retraining_suggested", "target_drift", "prediction_drift"}
)
#: ``<name>_limit``: the limit a check was judged with, logged with the check.
LIMIT_SUFFIX = "_limit"

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
    path, Evidently ids, latency and memory, the limits the check was judged
    with (``limits``), MLflow run id, warnings. Each performance metric gets the
    ``limit`` its test compared with.
    """
    current = sampled.get("current", {})
    result = {
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
    drop = (extra.get("limits") or {}).get("performance_drop")
    for perf in result["performance"].values():
        up = perf["higher_is_better"]
        perf["limit"] = None if drop is None else performance_limit(perf["reference"], up, drop)
    return result


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
        if perf.get("limit") is not None:
            values[f"perf/{name}{LIMIT_SUFFIX}"] = float(perf["limit"])
    for key in ("latency_ms", "memory_mb"):
        if result.get(key) is not None:
            values[key] = float(result[key])
    # The limits this check was judged with: later checks may use others.
    for key, limit in (result.get("limits") or {}).items():
        if limit is not None:
            values[f"{key}{LIMIT_SUFFIX}"] = float(limit)
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
