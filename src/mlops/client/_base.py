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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlops.client._link import TrackingLink
from mlops.components import build_adapter
from mlops.config import Settings
from mlops.errors import ConnectionFailedError, InvalidInputError
from mlops.invocation import mlops_command
from mlops.tracking.validation import validate_metrics
from mlops.workspace import Workspace

if TYPE_CHECKING:
    from mlops.client._records import ProjectRecords
    from mlops.monitoring._evidently import EvidentlyMonitor
    from mlops.serving._bentoml import BentoMLDeployer
    from mlops.telemetry.writer import WalWriter
    from mlops.tracking._mlflow import MLflowTracker
    from mlops.versioning._dvc import DVCVersioner

__all__ = ["ClientBase", "RunState"]

_now_ns = time.time_ns


@dataclass
class RunState:
    """What the client knows of a run it logs to: offline or not, the params it logged."""

    offline: bool = False
    params: dict[str, str] = field(default_factory=dict)


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
        self._writer: WalWriter | None = None
        self._run_stack: list[str] = []
        self._runs: dict[str, RunState] = {}
        self._link = TrackingLink(settings)

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

        return ProjectRecords(
            self.settings,
            self.workspace,
            self._tracker,
            self._deployer,
            self._server_run_id,
            monitor=self._monitor,
        )

    # -- telemetry: how every component logs metric points ------------------------------

    @property
    def _wal_dir(self) -> Path:
        return self.workspace.root / "wal"

    def _telemetry(self) -> WalWriter:
        writer = self._writer
        if writer is None:
            with self._lock:
                if self._writer is None:
                    from mlops.components import require
                    from mlops.telemetry.writer import WalWriter

                    require("tracking", "log_metrics")
                    self._writer = WalWriter(
                        self.settings, self.workspace.path("wal"), mlops_command
                    )
                writer = self._writer
        return writer

    def _run_state(self, run_id: str) -> RunState:
        state = self._runs.get(run_id)
        if state is None:
            state = self._runs.setdefault(run_id, RunState())
        return state

    def _log_to_run(
        self, run_id: str, kind: str, payload: dict[str, Any], direct: Callable[[], None]
    ) -> None:
        """Send a run's params/tags/datasets now, or log them for the agent when offline.

        ``direct`` sends them; on a remote store it is bounded by
        ``tracking.offline_after``, and a server that does not answer makes the run
        go on offline (later calls of the run are logged too, so order is kept).
        """
        state = self._run_state(run_id)
        if not state.offline:
            try:
                self._link.call(direct, kind)
                return
            except ConnectionFailedError:
                if not self._link.can_go_offline:
                    raise
                self._go_offline(run_id)
        self._telemetry().event(run_id, kind, payload)

    def _set_run_tags(self, run_id: str, tags: dict[str, str], operation: str) -> None:
        """Set validated tags on a run, now or through the log (see :meth:`_log_to_run`)."""
        self._log_to_run(
            run_id,
            "tags",
            {"tags": tags},
            lambda: self._tracker(operation).set_tags(self._server_run_id(run_id), tags),
        )

    def _go_offline(self, run_id: str) -> None:
        self._run_state(run_id).offline = True
        self._telemetry().mark_offline(run_id)
        self._link.warn_offline(
            run_id,
            str(self._wal_dir),
            mlops_command("sync", "-p", self.project, "--repo-root", self.settings.root),
        )

    def _server_run_id(self, run_id: str) -> str:
        """The tracking server's id of ``run_id`` (an offline run's local id is mapped).

        This workspace's log knows its own runs (``wal/<id>/server_id``). An id it does
        not know (logged in another checkout or on another machine, or its folder is
        gone) is looked up on the server by the run tag ``mlops.local_run_id``, bounded
        by ``tracking.offline_after``; the answer is remembered.
        """
        from mlops.telemetry.runs import server_id

        if not (isinstance(run_id, str) and len(run_id) == 32 and run_id.isalnum()):
            return run_id
        link = self._link
        known = link.known_id(run_id)
        if known is not None:
            return known
        folder = self._wal_dir / run_id
        mapped = server_id(folder)
        if mapped is not None:
            link.remember(run_id, mapped)
            return mapped
        if folder.is_dir():
            return run_id  # this log's run: online (the server's id) or not created yet
        tracker = self._tracker("find_run")  # here: importing MLflow is not the server's wait
        return link.find_local_run(run_id, lambda: tracker.find_local_run(run_id))

    def _submit_metrics(
        self,
        metrics: Mapping[str, Any],
        step: int | None = None,
        run_id: str | None = None,
        timestamp_ms: int | None = None,
        operation: str = "log_metrics",
    ) -> None:
        """Validate and enqueue points for ``run_id`` (default: the active run).

        The training loop's hot path: every attribute look-up and call here is paid per point.
        """
        if not run_id:
            stack = self._run_stack
            run_id = stack[-1] if stack else self._require_run(operation)
        points = validate_metrics(metrics, step, operation)
        ts = timestamp_ms if timestamp_ms is not None else _now_ns() // 1_000_000
        (self._writer or self._telemetry()).submit(run_id, points, step or 0, ts)

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
