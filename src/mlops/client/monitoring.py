"""Facade methods for monitoring on Evidently (set_reference_data, monitor_predictions).

Evidently and pandas are imported on the first call that needs them (through
``self._monitor()``), never by ``import mlops`` or client creation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.config import Settings
from mlops.errors import InvalidInputError, MLOpsClientError
from mlops.tags import RUN_TYPE_TAG

if TYPE_CHECKING:
    from evidently.ui.workspace import Workspace as EvidentlyWorkspace

    from mlops.monitoring.alerts import AlertDispatcher, AlertHandler

__all__ = ["MonitoringMixin"]

logger = logging.getLogger("mlops.monitoring")


class MonitoringMixin(ClientBase):
    """Drift and performance monitoring against a stored reference, with alerts and history."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._alerts: AlertDispatcher | None = None
        self._monitoring_run_id: str | None = None

    @property
    def evidently_workspace(self) -> EvidentlyWorkspace:
        """Escape hatch: Evidently's own workspace holding this project's checks."""
        return self._monitor("evidently_workspace").workspace

    def set_reference_data(
        self,
        df: Any | str | Path,
        target_column: str | None = None,
        prediction_column: str | None = None,
    ) -> dict[str, Any]:
        """Store ``df`` as the reference later batches are compared with.

        The data goes to ``<workspace>/monitoring/reference.parquet`` with its
        schema and column roles in ``reference.json``, so another process (a
        production server) can check batches against it. Above
        ``monitoring.max_rows`` rows a seeded uniform sample is stored.

        Args:
            df: A pandas DataFrame of model inputs, plus target/prediction columns,
                or the path of a CSV, Parquet, JSON or JSON-lines file of them.
            target_column: The true label or value, if present.
            prediction_column: The model's output, if present.

        Returns:
            The stored schema: columns, features, roles, task, rows, digest, sampled.
        """
        from dataclasses import asdict

        monitor = self._monitor("set_reference_data")
        return asdict(monitor.set_reference(df, target_column, prediction_column))

    def monitor_predictions(
        self,
        df: Any | str | Path,
        target_column: str | None = None,
        prediction_column: str | None = None,
        latency_ms: float | Sequence[float] | None = None,
        memory_mb: float | None = None,
    ) -> dict[str, Any]:
        """Check a batch against the reference with Evidently; alert and keep history.

        Runs data drift per feature column and overall, target and prediction
        drift, and classification or regression quality when both target and
        prediction are present. Verdicts are Evidently's test statuses; against a
        text reference each text column is also judged on its descriptors' tests:
        when two of its five drifted, the dataset has drifted (docs/monitoring.md). Saves
        the HTML report under ``<workspace>/reports/``, adds the snapshot to the
        Evidently workspace, logs key numbers to the project's monitoring run
        in MLflow (one step per check) and calls the alert handlers.

        Args:
            df: A pandas DataFrame with the reference's feature columns (or a data file).
            target_column: Default: the reference's target column.
            prediction_column: Default: the reference's prediction column.
            latency_ms: Mean latency, or each request's latency, in milliseconds.
            memory_mb: Memory used by the model server, in MB.

        Returns:
            A plain dict: ``drift_detected``, ``drift_share``, ``drifted_columns``,
            ``column_drift``, ``text_drift`` (per text column; empty for tabular data),
            ``target_drift``, ``prediction_drift``, ``performance``, ``alerts``,
            ``retraining_suggested``, ``reasons``, ``report_path``, ``sampled``, ``check``,
            ``warnings``... (see docs/monitoring.md).
        """
        from dataclasses import asdict

        from mlops.monitoring.results import build_result
        from mlops.monitoring.thresholds import Limits, evaluate, mean_latency

        limits = Limits.from_settings(self.settings.monitoring)
        latency, memory = mean_latency(latency_ms), _memory(memory_mb)
        monitor = self._monitor("monitor_predictions")
        schema, _ = monitor.load_reference()
        outcome, snapshot, sampled = monitor.check(
            df, target_column, prediction_column, self._lineage(schema.digest)
        )
        text_drift = _judge_text(monitor.folder, outcome)
        verdict = evaluate(outcome, limits, latency, memory)
        if text_drift:
            from mlops.monitoring.text import explain_text_drift

            explain_text_drift(verdict, text_drift)
        extra = self._record_check(snapshot)
        extra.update(latency_ms=latency, memory_mb=memory, warnings=[], limits=asdict(limits))
        extra["text_drift"] = text_drift
        result = build_result(outcome, verdict, schema, sampled, extra)
        self._log_monitoring_metrics(result)
        self._send_alerts(result)
        return result

    def add_alert_handler(self, handler: AlertHandler) -> None:
        """Call ``handler(event)`` after every check that raised alerts.

        ``event`` is a dict: project, check, timestamp, alerts, retraining_suggested,
        reasons, report_path, drift_share, drifted_columns. A handler that raises
        is logged and reported in the result's ``warnings``; the check goes on.
        """
        self._alert_dispatcher().add(handler)

    def flush_alerts(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` seconds for webhook posts in flight; True when none is left."""
        return self._alert_dispatcher().flush(timeout)

    def _on_close(self, timeout: float) -> None:
        if self._alerts is not None:
            self.flush_alerts(min(timeout, 10.0))  # webhook posts in flight, bounded
        super()._on_close(timeout)

    def _alert_dispatcher(self) -> AlertDispatcher:
        from mlops.monitoring.alerts import AlertDispatcher, WebhookAlertHandler, log_alerts

        with self._lock:
            if self._alerts is None:
                cfg = self.settings.monitoring
                handlers: list[AlertHandler] = [log_alerts]
                if cfg.webhook_url:
                    handlers.append(
                        WebhookAlertHandler(
                            cfg.webhook_url, cfg.webhook_timeout, cfg.webhook_retries
                        )
                    )
                self._alerts = AlertDispatcher(handlers)
            return self._alerts

    def _record_check(self, snapshot: Any) -> dict[str, Any]:
        """Number the check, save its HTML report and add it to the Evidently workspace."""
        from datetime import UTC, datetime

        from mlops.monitoring.state import MonitoringState

        shared = self.settings.monitoring_service is not None
        with MonitoringState(self.workspace.path("monitoring")).update() as state:
            monitor = self._monitor()
            number = int(state.get("checks", 0)) + 1
            if shared:  # every machine's checks count: one numbering for the team
                number = max(number, monitor.count_snapshots() + 1)
            snapshot.set_name(f"check {number}")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = self.workspace.path("reports") / f"monitoring-{number:05d}-{stamp}.html"
            monitor.save_html(snapshot, path)
            known = None if shared else state.get("evidently_project_id")
            project_id, snapshot_id = monitor.add_to_history(snapshot, known)
            state.update(checks=number, evidently_project_id=project_id)
        return {
            "project": self.project,
            "check": number,
            "report_path": str(path),
            "evidently": {
                "workspace": self.settings.monitoring_location,
                "project_id": project_id,
                "snapshot_id": snapshot_id,
            },
        }

    def _log_monitoring_metrics(self, result: dict[str, Any]) -> None:
        """Key numbers to the monitoring run; a tracking failure becomes a warning, not an error."""
        from mlops.monitoring.results import mlflow_metrics

        try:
            run_id = self._monitoring_run()
            self._submit_metrics(
                mlflow_metrics(result),
                step=result["check"],
                run_id=run_id,
                operation="monitor_predictions",
            )
        except MLOpsClientError as err:
            logger.warning("monitoring metrics were not logged to MLflow: %s", err)
            result["warnings"].append(f"metrics not logged to MLflow: {err}")
            result["mlflow_run_id"] = None
            return
        result["mlflow_run_id"] = run_id

    def _monitoring_run(self) -> str:
        """The project's monitoring run: found by its tag, else created (and remembered)."""
        with self._lock:
            if self._monitoring_run_id is not None:
                return self._monitoring_run_id
        found = self._latest_check()
        if found is not None:
            run_id = str(found["run_id"])
        else:
            run = self._tracker("monitor_predictions").create_run(
                "monitoring",
                {RUN_TYPE_TAG: "monitoring"},
                f"Drift and performance checks of {self.project}: one step per check.",
                None,
            )
            run_id = run.info.run_id
        with self._lock:
            self._monitoring_run_id = run_id
        return run_id

    def _latest_check(self) -> dict[str, Any] | None:
        """The monitoring run as a plain record (latest numbers in ``metrics``), or None.

        Read-only: nothing is created when no check has run yet.
        """
        found = self._tracker("lineage").runs(1, f"tags.`{RUN_TYPE_TAG}` = 'monitoring'")
        return found[0] if found else None

    def _lineage(self, digest: str) -> dict[str, str]:
        """Metadata every Evidently snapshot carries: project, reference and the active run."""
        import socket

        lineage = {
            "mlops_project": self.project,
            "reference_digest": digest,
            "host": socket.gethostname(),
        }
        if self.active_run_id:
            lineage["mlflow_run_id"] = self.active_run_id
        return lineage

    def _send_alerts(self, result: dict[str, Any]) -> None:
        if not result["alerts"]:
            return
        from mlops.monitoring.results import alert_event

        result["warnings"].extend(self._alert_dispatcher().dispatch(alert_event(result)))


def _judge_text(folder: Path, outcome: Any) -> dict[str, Any]:
    """Each text column of a text reference judged as a whole (``monitoring/text.py``)."""
    from mlops.monitoring.text import judge_text_drift, stored_text_columns

    columns = stored_text_columns(folder)
    return judge_text_drift(outcome, columns) if columns else {}


def _memory(memory_mb: float | None) -> float | None:
    if memory_mb is None:
        return None
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int | float) or not memory_mb >= 0:
        raise InvalidInputError(
            f"memory_mb must be a non-negative number, got {memory_mb!r}",
            component="monitoring",
            operation="monitor_predictions",
            hint="pass memory in MB, e.g. psutil.Process().memory_info().rss / 2**20",
        )
    return float(memory_mb)
