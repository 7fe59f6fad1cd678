"""Monitoring on Evidently: drift, performance, alerts, the retraining signal.

Modules (only the private ``_evidently`` imports Evidently and pandas; the rest is
light and testable alone):

- ``_evidently``: :class:`EvidentlyMonitor`, the adapter.
- ``schema``: the stored reference's schema and column roles; input checks.
- ``sampling``: the seeded sampling of large inputs.
- ``outcome``: the facts read from Evidently's metrics and test statuses.
- ``thresholds``: alerts and the retraining signal from an outcome.
- ``alerts``: handlers (log, callbacks, HTTP webhook).
- ``results``: the result dict, the MLflow metrics, the alert event.
- ``state``: the per-project check counter and Evidently project id.
"""

from __future__ import annotations

from mlops.monitoring.alerts import AlertDispatcher, AlertHandler, WebhookAlertHandler, log_alerts

__all__ = ["AlertDispatcher", "AlertHandler", "WebhookAlertHandler", "log_alerts"]
