"""Read a check's verdicts out of Evidently's exported snapshot (``snapshot.dict()``).

Plain data in, plain data out: no Evidently import, so the parsing is testable
on a recorded export. Every verdict is the status of one of Evidently's tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlops.monitoring.outcome import CheckOutcome, ColumnDrift, PerformanceValue
from mlops.monitoring.schema import ReferenceSchema

__all__ = ["number", "read_outcome"]


def read_outcome(
    exported: dict[str, Any],
    schema: ReferenceSchema,
    roles: list[str],
    quality: Mapping[str, tuple[str, bool]],
    reference_value: Callable[[str], float | None],
) -> CheckOutcome:
    """Build the outcome of a check from Evidently's exported snapshot.

    Args:
        exported: ``snapshot.dict()``: ``{"metrics": [...], "tests": [...]}``.
        schema: The reference's schema (names the target and prediction).
        roles: Role columns both frames had (performance needs both).
        quality: Evidently metric type name -> (our name, higher is better).
        reference_value: Metric id -> the metric's value on the reference.
    """
    status = _statuses(exported["tests"])
    task = schema.task if len(roles) == 2 else None
    outcome = CheckOutcome(False, 0.0, {}, task=task)
    for metric in exported["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        verdict = status.get(metric["id"], "")
        if kind == "DriftedColumnsCount":
            outcome.drift_share = float(metric["value"]["share"])
            outcome.drift_detected = verdict == "FAIL"
        elif kind == "ValueDrift":
            _column_drift(outcome, schema, metric, verdict)
        elif kind in quality and task:
            name, up = quality[kind]
            value, reference = number(metric["value"]), reference_value(metric["id"])
            outcome.performance[name] = PerformanceValue(value, reference, verdict != "FAIL", up)
    return outcome


def _statuses(tests: list[dict[str, Any]]) -> dict[str, str]:
    """Metric id -> its tests' status (FAIL if any failed, else ERROR if any errored)."""
    rank = {"FAIL": 3, "ERROR": 2, "WARNING": 1, "SUCCESS": 0}
    out: dict[str, str] = {}
    for test in tests:
        status = str(getattr(test["status"], "value", test["status"]))
        metric_id = test["metric_config"]["metric_id"]
        if rank.get(status, 0) >= rank.get(out.get(metric_id, "SUCCESS"), 0):
            out[metric_id] = status
    return out


def _column_drift(
    outcome: CheckOutcome, schema: ReferenceSchema, metric: dict[str, Any], verdict: str
) -> None:
    config = metric["config"]
    if verdict not in ("FAIL", "SUCCESS", "WARNING"):
        outcome.skipped.append(
            f"drift test of {config['column']!r} ended {verdict or 'without status'}"
        )
    drift = ColumnDrift(
        float(metric["value"]),
        str(config.get("method")),
        float(config.get("threshold") or 0),
        verdict == "FAIL",
    )
    if config["column"] == schema.target:
        outcome.target_drift = drift
    elif config["column"] == schema.prediction:
        outcome.prediction_drift = drift
    else:
        outcome.column_drift[config["column"]] = drift


def number(value: Any) -> float:
    """A metric value as one float (the mean of mean/std values such as MAE)."""
    return float(value["mean"] if isinstance(value, dict) else value)
