"""State every part of the facade shares: settings, workspace, adapters, the run stack.

Each component mixin of :class:`~mlops.client.MLOpsClient` sees the others only
through what is declared here: the typed adapter accessors (``_tracker()``,
``_versioner()``, ``_deployer()``, ``_monitor()``, built once from the table in
:mod:`mlops.components`), ``_submit_metrics`` (the one way into the telemetry
pipeline), ``_require_run`` and the run hooks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from mlops.components import build_adapter
from mlops.config import Settings
from mlops.errors import InvalidInputError
from mlops.tracking.validation import validate_metrics
from mlops.workspace import Workspace

if TYPE_CHECKING:
    from mlops.client._records import ProjectRecords
    from mlops.monitoring._evidently import EvidentlyMonitor
    from mlops.serving._bentoml import BentoMLDeployer
    from mlops.telemetry.pipeline import TelemetryPipeline
    from mlops.tracking._mlflow import MLflowTracker
    from mlops.versioning._dvc import DVCVersioner

__all__ = ["ClientBase"]


class ClientBase:
    """Holds what the component mixins of :class:`~mlops.client.MLOpsClient` share.

    Mixins override the hooks ``_on_run_start`` / ``_on_run_end`` / ``_on_close``
    and call ``super()``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.project
        self.workspace = Workspace(settings)
        self._lock = threading.RLock()
        self._adapters: dict[str, Any] = {}
        self._telemetry_pipeline: TelemetryPipeline | None = None
        self._run_stack: list[str] = []

    @property
    def active_run_id(self) -> str | None:
        """ID of the innermost run opened by :meth:`start_run`, or None."""
        stack = self._run_stack  # read without the lock: list indexing is atomic
        return stack[-1] if stack else None

    # -- adapters: built on first use, from the table in mlops.components -------------

    def _adapter(self, component: str, operation: str) -> Any:
        adapter = self._adapters.get(component)
        if adapter is None:
            with self._lock:
                adapter = self._adapters.get(component)
                if adapter is None:
                    adapter = build_adapter(component, operation, self.settings)
                    self._adapters[component] = adapter
        return adapter

    def _tracker(self, operation: str = "connect") -> MLflowTracker:
        return cast("MLflowTracker", self._adapter("tracking", operation))

    def _versioner(self, operation: str = "dvc_status") -> DVCVersioner:
        return cast("DVCVersioner", self._adapter("versioning", operation))

    def _deployer(self, operation: str = "deploy_model") -> BentoMLDeployer:
        return cast("BentoMLDeployer", self._adapter("serving", operation))

    def _monitor(self, operation: str = "monitor_predictions") -> EvidentlyMonitor:
        return cast("EvidentlyMonitor", self._adapter("monitoring", operation))

    @property
    def records(self) -> ProjectRecords:
        """What this project recorded, read-only, as plain data (runs, models, Bentos, checks).

        Example:
            >>> [r["name"] for r in client.records.runs(10)]  # doctest: +SKIP
        """
        from mlops.client._records import ProjectRecords

        return ProjectRecords(self.settings, self.workspace, self._tracker, self._deployer)

    # -- telemetry: how every component logs metric points ------------------------------

    def _telemetry(self) -> TelemetryPipeline:
        pipeline = self._telemetry_pipeline
        if pipeline is None:
            with self._lock:
                if self._telemetry_pipeline is None:
                    from mlops.components import require
                    from mlops.telemetry.pipeline import TelemetryPipeline

                    require("tracking", "log_metrics")
                    self._telemetry_pipeline = TelemetryPipeline.for_client(
                        self.settings, self.workspace, self._tracker
                    )
                pipeline = self._telemetry_pipeline
        return pipeline

    def _submit_metrics(
        self,
        metrics: Mapping[str, Any],
        step: int | None = None,
        run_id: str | None = None,
        timestamp_ms: int | None = None,
        operation: str = "log_metrics",
    ) -> None:
        """Validate and enqueue points for ``run_id`` (default: the active run)."""
        run_id = run_id or self.active_run_id or self._require_run(operation)
        points = validate_metrics(metrics, step, operation)
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        pipeline = self._telemetry_pipeline or self._telemetry()
        pipeline.submit(run_id, points, 0 if step is None else step, ts)

    def _require_run(self, operation: str, run_id: str | None = None) -> str:
        run_id = run_id or self.active_run_id
        if run_id is None:
            raise InvalidInputError(
                f"{operation} needs an active run, and none is open",
                component="tracking",
                operation=operation,
                hint="call it inside `with client.start_run():`",
            )
        return run_id

    # -- hooks ------------------------------------------------------------------------

    def _on_run_start(self, run_id: str, options: dict[str, Any]) -> None:
        """Hook: a run opened by :meth:`start_run` has started (``options`` are its kwargs)."""

    def _on_run_end(self, run_id: str, status: str) -> None:
        """Hook: a run is about to end with ``status`` (FINISHED, FAILED, KILLED)."""

    def _on_close(self, timeout: float) -> None:
        """Hook: the client is closing; finish background work within ``timeout`` s."""
