"""Plain-Python facts the adapter reads out of an Evidently snapshot.

Every verdict here (``drifted``, ``drift_detected``, ``passed``) is the status
of one of Evidently's own tests, never a comparison of raw scores made by us:
a drift score is a p-value for some methods and a distance for others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckOutcome", "ColumnDrift", "PerformanceValue"]


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column, as Evidently's ``ValueDrift`` metric and test report it.

    Attributes:
        score: The method's statistic (p-value or distance: see ``method``).
        method: Evidently's name of the statistical test or distance.
        threshold: The method's threshold Evidently applied.
        drifted: True when Evidently's drift test for the column failed.
    """

    score: float
    method: str
    threshold: float
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the result."""
        return asdict(self)


@dataclass(frozen=True)
class PerformanceValue:
    """One quality metric on the batch and on the reference.

    Attributes:
        value: The metric on the current batch.
        reference: The same metric on the reference data.
        passed: Status of Evidently's test "no worse than the reference by
            more than ``monitoring.performance_drop`` (relative)".
        higher_is_better: Direction of the metric (accuracy: True, RMSE: False).
    """

    value: float
    reference: float | None
    passed: bool
    higher_is_better: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the result."""
        return asdict(self)


@dataclass
class CheckOutcome:
    """What one check found, before thresholds turn it into alerts.

    Attributes:
        drift_detected: Evidently's dataset drift test failed (share of drifted
            feature columns reached ``monitoring.drift_share``).
        drift_share: Share of drifted feature columns.
        column_drift: Per feature column.
        target_drift: Drift of the target column, when both frames have it.
        prediction_drift: Drift of the prediction column, when both frames have it.
        performance: Quality metrics, when target and prediction are present.
        task: ``classification``, ``regression`` or None.
        rows: Rows of the batch that were checked (after sampling).
        skipped: Checks that could not run, with the reason.
    """

    drift_detected: bool
    drift_share: float
    column_drift: dict[str, ColumnDrift]
    target_drift: ColumnDrift | None = None
    prediction_drift: ColumnDrift | None = None
    performance: dict[str, PerformanceValue] = field(default_factory=dict)
    task: str | None = None
    rows: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        """Feature columns whose drift test failed, in the reference's order."""
        return [name for name, drift in self.column_drift.items() if drift.drifted]

    def as_dict(self) -> dict[str, Any]:
        """The drift and performance part of ``monitor_predictions``' result."""
        return {
            "drift_detected": self.drift_detected,
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns,
            "column_drift": {k: v.as_dict() for k, v in self.column_drift.items()},
            "target_drift": self.target_drift.as_dict() if self.target_drift else None,
            "prediction_drift": self.prediction_drift.as_dict() if self.prediction_drift else None,
            "performance": {k: v.as_dict() for k, v in self.performance.items()},
            "task": self.task,
            "rows": self.rows,
            "skipped": list(self.skipped),
        }
