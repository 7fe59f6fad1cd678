"""Turn a check's outcome into alerts and a retraining signal.

Drift and performance verdicts are already Evidently's test statuses (see
:mod:`mlops.monitoring.outcome`); this module decides what each verdict means
for the user. Latency and memory are plain numbers against the configured
limits (``monitoring.latency_ms``, ``monitoring.memory_mb``).

=====================  ==========  ====================  ===================
alert ``type``         severity    fires when            suggests retraining
=====================  ==========  ====================  ===================
``data_drift``         warning     dataset drift test    yes
``target_drift``       warning     target drift test     yes
``prediction_drift``   warning     prediction drift test no
``performance_drop``   critical    a quality test        yes
``latency``            warning     mean latency > limit  no
``memory``             warning     memory > limit        no
=====================  ==========  ====================  ===================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlops.config import MonitoringSettings
from mlops.errors import InvalidInputError
from mlops.monitoring.outcome import CheckOutcome, ColumnDrift

__all__ = ["Limits", "Verdict", "evaluate", "mean_latency", "performance_limit"]


@dataclass(frozen=True)
class Limits:
    """The configured thresholds of one project."""

    drift_share: float
    performance_drop: float
    latency_ms: float | None
    memory_mb: float | None

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> Limits:
        """Read and validate the thresholds of ``[monitoring]``."""
        if not 0 < settings.drift_share <= 1 or not 0 < settings.performance_drop < 1:
            raise InvalidInputError(
                f"monitoring.drift_share={settings.drift_share} and monitoring.performance_drop="
                f"{settings.performance_drop} must lie in (0, 1]",
                component="monitoring",
                operation="monitor_predictions",
                hint="e.g. drift_share = 0.5 and performance_drop = 0.1 in [monitoring]",
            )
        return cls(
            settings.drift_share, settings.performance_drop, settings.latency_ms, settings.memory_mb
        )


def performance_limit(reference: float | None, higher_is_better: bool, drop: float) -> float | None:
    """The value Evidently's ``gte``/``lte(Reference(relative=drop))`` test compares with.

    ``reference - |reference| * drop`` for a metric where higher is better (accuracy),
    ``reference + |reference| * drop`` otherwise (RMSE); None without a reference.
    """
    if reference is None:
        return None
    tolerance = abs(reference) * drop
    return reference - tolerance if higher_is_better else reference + tolerance


@dataclass
class Verdict:
    """Alerts and the retraining signal of one check."""

    alerts: list[dict[str, Any]]
    retraining_suggested: bool
    reasons: list[str]


def mean_latency(latency_ms: float | Sequence[float] | None) -> float | None:
    """One latency figure: the value itself, or the mean of per-request latencies."""
    if latency_ms is None:
        return None
    values = (
        [float(latency_ms)]
        if isinstance(latency_ms, int | float)
        else [float(v) for v in latency_ms]
    )
    if not values or any(not v >= 0 for v in values):  # NaN fails `v >= 0` too
        raise InvalidInputError(
            "latency_ms must be a non-negative number or a non-empty list of them",
            component="monitoring",
            operation="monitor_predictions",
            hint="pass the mean latency in milliseconds, or each request's latency",
        )
    return sum(values) / len(values)


def evaluate(
    outcome: CheckOutcome, limits: Limits, latency_ms: float | None, memory_mb: float | None
) -> Verdict:
    """Alerts and retraining reasons for ``outcome`` under ``limits``."""
    verdict = Verdict([], False, [])
    _drift(verdict, outcome, limits)
    _role_drift(verdict, "target_drift", outcome.target_drift, retrain=True)
    _role_drift(verdict, "prediction_drift", outcome.prediction_drift, retrain=False)
    _performance(verdict, outcome, limits)
    _resource(
        verdict, "latency", "mean latency", value=latency_ms, limit=limits.latency_ms, unit="ms"
    )
    _resource(verdict, "memory", "memory", value=memory_mb, limit=limits.memory_mb, unit="MB")
    return verdict


def _alert(
    verdict: Verdict, kind: str, severity: str, message: str, *, value: Any, threshold: Any
) -> None:
    verdict.alerts.append(
        {
            "type": kind,
            "severity": severity,
            "message": message,
            "value": value,
            "threshold": threshold,
        }
    )


def _retrain(verdict: Verdict, reason: str) -> None:
    verdict.retraining_suggested = True
    verdict.reasons.append(reason)


def _drift(verdict: Verdict, outcome: CheckOutcome, limits: Limits) -> None:
    if not outcome.drift_detected:
        return
    names = ", ".join(outcome.drifted_columns)
    message = (
        f"data drift: {len(outcome.drifted_columns)} of {len(outcome.column_drift)} features "
        f"drifted (share {outcome.drift_share:.2f}, limit {limits.drift_share}): {names}"
    )
    _alert(
        verdict,
        "data_drift",
        "warning",
        message,
        value=outcome.drift_share,
        threshold=limits.drift_share,
    )
    _retrain(verdict, message)


def _role_drift(verdict: Verdict, kind: str, drift: ColumnDrift | None, retrain: bool) -> None:
    if drift is None or not drift.drifted:
        return
    what = kind.replace("_", " ")
    message = f"{what}: {drift.method} score {drift.score:.4g} (threshold {drift.threshold:.4g})"
    _alert(verdict, kind, "warning", message, value=drift.score, threshold=drift.threshold)
    if retrain:
        _retrain(verdict, message)


def _performance(verdict: Verdict, outcome: CheckOutcome, limits: Limits) -> None:
    for name, perf in outcome.performance.items():
        if perf.passed:
            continue
        word = "fell" if perf.higher_is_better else "rose"
        message = (
            f"{name} {word} from {perf.reference:.4g} (reference) to {perf.value:.4g}, beyond the "
            f"{limits.performance_drop:.0%} allowed (monitoring.performance_drop)"
        )
        _alert(
            verdict,
            "performance_drop",
            "critical",
            message,
            value=perf.value,
            threshold=perf.reference,
        )
        _retrain(verdict, message)


def _resource(
    verdict: Verdict, kind: str, what: str, *, value: float | None, limit: float | None, unit: str
) -> None:
    if value is None or limit is None or value <= limit:
        return
    setting = f"monitoring.{kind}_{unit.lower()}"
    message = f"{what} {value:.1f} {unit} is above the limit of {limit:g} {unit} ({setting})"
    _alert(verdict, kind, "warning", message, value=value, threshold=limit)
