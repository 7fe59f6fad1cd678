"""Facade methods for experiment tracking on MLflow.

Params and tags are written synchronously (they are few, and a rejected
re-logged param must fail at the call). Metric points go through the telemetry
pipeline: appended to a write-ahead log and delivered by a background thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.errors import InvalidInputError, NotFoundError
from mlops.tracking.validation import validate_params, validate_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

__all__ = ["TrackingMixin"]


class TrackingMixin(ClientBase):
    """Runs, params, metrics, artifacts and models on the project's MLflow experiment."""

    @property
    def mlflow_client(self) -> MlflowClient:
        """Escape hatch: MLflow's own ``MlflowClient`` bound to this project's store."""
        return self._tracker().mlflow_client

    @contextmanager
    def start_run(
        self,
        run_name: str | None = None,
        nested: bool = False,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
        log_system_metrics: bool | None = None,
    ) -> Iterator[Run]:
        """Open a run on the project's experiment; yield MLflow's ``Run``.

        Leaving the block ends the run FINISHED; an exception marks it FAILED
        and is re-raised; Ctrl-C marks it KILLED. Metric points are flushed
        with a bound (``telemetry.flush_timeout``); what is not delivered by
        then stays on disk, the run is tagged ``mlops.pending_data=true`` and
        ``mlops sync`` finishes it.

        Args:
            run_name: Display name.
            nested: Open the run as a child of the active run.
            tags: Tags set at creation.
            description: Run description (``mlflow.note.content``).
            log_system_metrics: Sample CPU/GPU/memory in the background;
                default from ``hardware.system_metrics``.
        """
        parent = self.active_run_id
        if parent is not None and not nested:
            raise InvalidInputError(
                f"run {parent} is already active in this client",
                component="tracking",
                operation="start_run",
                hint="pass nested=True for a child run, or leave the active run first",
            )
        tags = validate_tags(tags or {}, "start_run")
        run = self._tracker("start_run").create_run(
            run_name, tags, description, parent if nested else None
        )
        run_id = run.info.run_id
        with self._lock:
            self._run_stack.append(run_id)
        status = "FAILED"
        try:
            self._on_run_start(run_id, {"log_system_metrics": log_system_metrics})
            yield run
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self._finish_run(run_id, status)

    def _finish_run(self, run_id: str, status: str) -> None:
        try:
            self._on_run_end(run_id, status)
        finally:
            with self._lock:
                if run_id in self._run_stack:
                    self._run_stack.remove(run_id)
            self._telemetry().finish_run(run_id, status, self.settings.telemetry.flush_timeout)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyperparameters on the active run (synchronous; values become strings).

        Re-logging a key with a different value raises before anything is written.
        """
        run_id = self._require_run("log_params")
        self._tracker("log_params").log_params(run_id, validate_params(params))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the active run (synchronous)."""
        run_id = self._require_run("set_tags")
        self._tracker("set_tags").set_tags(run_id, validate_tags(tags, "set_tags"))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metric values on the active run without waiting on MLflow.

        Each point is appended to the project's write-ahead log before the call
        returns (it survives a crash of this process) and delivered in batches
        by a background thread. NaN and +/-inf are logged as MLflow stores them.

        Args:
            metrics: ``{"loss": 0.42, ...}``; keys up to 250 characters of
                letters, digits, ``_ - . / :`` and spaces; values real numbers.
            step: Training step; default 0.
        """
        self._submit_metrics(metrics, step, operation="log_metrics")

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Upload one file to the active run's artifacts."""
        run_id = self._require_run("log_artifact")
        _check_artifact(Path(local_path), directory=False)
        self._tracker("log_artifact").log_artifact(
            run_id, Path(local_path), artifact_path, directory=False
        )

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a folder's contents to the active run's artifacts."""
        run_id = self._require_run("log_artifacts")
        _check_artifact(Path(local_dir), directory=True)
        self._tracker("log_artifacts").log_artifact(
            run_id, Path(local_dir), artifact_path, directory=True
        )

    def log_model(
        self,
        model: Any,
        name: str,
        registered_model_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Log a scikit-learn model, a PyTorch module or an ``mlflow.pyfunc.PythonModel``.

        The flavor is picked from the object. Known ``pip_requirements`` are
        passed so MLflow does not spend seconds inferring them; pass your own
        to override. Returns MLflow's ``ModelInfo`` (``model_uri`` etc.).
        """
        run_id = self._require_run("log_model")
        return self._tracker("log_model").log_model(
            run_id, model, name, registered_model_name, **kwargs
        )

    def register_model(
        self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None
    ) -> Any:
        """Register ``model_uri`` (``runs:/<id>/<name>``, ``models:/m-<id>``) as a new version."""
        return self._tracker("register_model").register_model(
            model_uri, name, validate_tags(tags or {}, "register_model")
        )

    def load_model(self, model_uri: str, flavor: str = "pyfunc") -> Any:
        """Load a logged model: ``pyfunc`` (default), ``sklearn`` or ``pytorch``."""
        return self._tracker("load_model").load_model(model_uri, flavor)

    def search_runs(
        self,
        filter_string: str = "",
        max_results: int = 100,
        order_by: list[str] | None = None,
    ) -> list[Run]:
        """Runs of this project's experiment, newest first unless ``order_by`` says otherwise."""
        return self._tracker("search_runs").search_runs(filter_string, max_results, order_by)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every pending metric point is in MLflow; True if all arrived in time.

        ``None`` waits up to ``telemetry.flush_timeout``.
        """
        bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
        return self._telemetry().flush(bound)

    def sync(
        self, timeout: float | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, int]:
        """Deliver points left pending by earlier processes of this project (crashes, outages).

        ``progress(done, total)`` is called while it waits.
        """
        return self._telemetry().sync(timeout, progress)

    def _close_tracking(self, timeout: float | None) -> None:
        with self._lock:
            open_runs = list(reversed(self._run_stack))
        for run_id in open_runs:
            self._finish_run(run_id, "KILLED")
        if self._telemetry_pipeline is not None:
            bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
            self._telemetry_pipeline.close(bound)


def _check_artifact(path: Path, directory: bool) -> None:
    """Reject a missing path, or a folder where a file is expected (and the reverse)."""
    operation = "log_artifacts" if directory else "log_artifact"
    if not path.exists():
        raise NotFoundError(
            f"no {'folder' if directory else 'file'} at {path}",
            component="tracking",
            operation=operation,
            hint="pass the path of an existing " + ("folder" if directory else "file"),
        )
    if path.is_dir() != directory:
        other = "log_artifact(path)" if path.is_file() else "log_artifacts(folder)"
        raise InvalidInputError(
            f"{path} is a {'file' if path.is_file() else 'folder'}",
            component="tracking",
            operation=operation,
            hint=f"use client.{other} for it",
        )
