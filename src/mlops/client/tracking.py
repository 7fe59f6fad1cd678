"""Facade methods for experiment tracking on MLflow, online or offline.

Params and tags are sent at the call (a re-logged param with another value
fails there, before anything is written). Metric points are appended to a
write-ahead log and delivered by a separate process. When a remote tracking
server cannot be reached (``tracking.offline = "auto"``), a run starts — or goes
on — offline: everything it logs goes to the log, and the agent creates the run
and delivers it all, in order and with the original times, when the server is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.errors import ConnectionFailedError, InvalidInputError, NotFoundError
from mlops.tags import PROJECT_TAG
from mlops.tracking.validation import validate_params, validate_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from mlops.tracking.offline import LocalRun

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
    ) -> Iterator[Run | LocalRun]:
        """Open a run on the project's experiment; yield MLflow's ``Run``.

        Leaving the block ends the run FINISHED; an exception marks it FAILED
        and is re-raised; Ctrl-C marks it KILLED. Metric points are flushed
        with a bound (``telemetry.flush_timeout``); what is not delivered by
        then stays on disk and is delivered in the background or by ``mlops sync``.

        When the tracking server cannot be reached within ``tracking.connect_after``
        seconds (0.4 s), or does not answer within ``tracking.offline_after`` (2 s),
        the run starts offline (one warning): a
        :class:`~mlops.tracking.offline.LocalRun` is yielded, with a local id that
        the client's lookups accept once the run is synced.

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
        run = self._begin_run(run_name, tags, description, parent if nested else None)
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

    def _begin_run(
        self,
        run_name: str | None,
        tags: dict[str, str],
        description: str | None,
        parent: str | None,
    ) -> Run | LocalRun:
        from mlops.telemetry.runs import LOCAL_RUN_TAG, new_run_id

        link = self._link
        if not link.can_go_offline:
            run = self._tracker("start_run").create_run(run_name, tags, description, parent)
            link.remember(run.info.run_id, run.info.run_id)  # the server's own id
            return run
        local_id = new_run_id()
        if link.usable():
            marked = {**tags, LOCAL_RUN_TAG: local_id}  # a late answer is found, not doubled
            tracker = self._tracker("start_run")
            try:
                run = link.call(
                    lambda: tracker.create_run(run_name, marked, description, parent), "start_run"
                )
            except ConnectionFailedError:
                pass
            else:
                self._run_state(run.info.run_id)
                link.remember(run.info.run_id, run.info.run_id)  # the server's own id
                return run
        return self._offline_run(local_id, run_name, tags, description, parent)

    def _offline_run(
        self,
        run_id: str,
        run_name: str | None,
        tags: dict[str, str],
        description: str | None,
        parent: str | None,
    ) -> LocalRun:
        from mlops.telemetry.runs import LOCAL_RUN_TAG, write_offline_info
        from mlops.tracking.offline import LocalRun, LocalRunData, LocalRunInfo
        from mlops.tracking.source import source_tags

        start = int(time.time() * 1000)
        all_tags = {**source_tags(self.settings.root), PROJECT_TAG: self.project, **tags}
        all_tags[LOCAL_RUN_TAG] = run_id
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        if description:
            all_tags["mlflow.note.content"] = description
        info = {
            "run_name": run_name,
            "start_time": start,
            "tags": all_tags,
            "experiment": self.settings.experiment_name,
        }
        write_offline_info(self.workspace.path("wal"), run_id, info)
        self._run_state(run_id).offline = True
        self._go_offline(run_id)
        return LocalRun(
            LocalRunInfo(run_id, run_name, start, user_id=all_tags.get("mlflow.user", "")),
            LocalRunData(tags=dict(all_tags)),
        )

    def _finish_run(self, run_id: str, status: str) -> None:
        try:
            self._on_run_end(run_id, status)
        finally:
            with self._lock:
                if run_id in self._run_stack:
                    self._run_stack.remove(run_id)
            self._telemetry().finish_run(run_id, status, self.settings.telemetry.flush_timeout)

    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        """Log hyperparameters on the active run, or ``run_id`` (values become strings).

        Re-logging a key with a different value raises before anything is written.
        """
        run_id = self._require_run("log_params", run_id)
        values = validate_params(params)
        known = self._run_state(run_id).params
        for key, value in values.items():
            if key in known and known[key] != value:
                raise InvalidInputError(
                    f"param {key!r} is already {known[key]!r} on run {run_id}; got {value!r}",
                    component="tracking",
                    operation="log_params",
                    hint="params are immutable per run: use a new key, a tag, or a new run",
                )
        new = {k: v for k, v in values.items() if known.get(k) != v}
        if not new:
            return
        self._log_to_run(
            run_id,
            "params",
            {"params": new},
            lambda: self._tracker("log_params").log_params(self._server_run_id(run_id), new),
        )
        known.update(new)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the active run."""
        run_id = self._require_run("set_tags")
        self._set_run_tags(run_id, validate_tags(tags, "set_tags"), "set_tags")

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, run_id: str | None = None
    ) -> None:
        """Log metric values on the active run without waiting on the tracking store.

        Each point is appended to the project's write-ahead log before the call
        returns (it survives a crash of this process) and delivered in batches
        by a separate process. NaN and +/-inf are logged as MLflow stores them.

        Args:
            metrics: ``{"loss": 0.42, ...}``; keys up to 250 characters of
                letters, digits, ``_ - . / :`` and spaces; values real numbers.
            step: Training step, a 64-bit integer; default 0.
            run_id: Another run of this client's project than the active one.
        """
        self._submit_metrics(metrics, step, run_id=run_id, operation="log_metrics")

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Upload one file to the active run's artifacts (staged for later when offline)."""
        run_id = self._require_run("log_artifact")
        self._log_artifact(run_id, Path(local_path), artifact_path, directory=False)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a folder's contents to the active run's artifacts (staged when offline)."""
        run_id = self._require_run("log_artifacts")
        self._log_artifact(run_id, Path(local_dir), artifact_path, directory=True)

    def _log_artifact(
        self, run_id: str, path: Path, artifact_path: str | None, directory: bool
    ) -> None:
        _check_artifact(path, directory)
        operation = "log_artifacts" if directory else "log_artifact"
        if not self._run_state(run_id).offline:
            try:
                tracker = self._tracker(operation)
                tracker.log_artifact(self._server_run_id(run_id), path, artifact_path, directory)
                return
            except ConnectionFailedError:
                if not self._link.can_go_offline:
                    raise
                self._go_offline(run_id)
        from mlops.telemetry.runs import stage

        staged = stage(self.workspace.path("wal"), run_id, path)
        event = {"path": staged, "artifact_path": artifact_path, "directory": directory}
        self._telemetry().event(run_id, "artifact", event)

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
        to override. Returns MLflow's ``ModelInfo`` (``model_uri`` etc.). In an
        offline run the model is saved locally and logged (and registered) when
        the run is synced; a :class:`~mlops.tracking.offline.LocalModelInfo` is returned.
        """
        run_id = self._require_run("log_model")
        tracker = self._tracker("log_model")
        if not self._run_state(run_id).offline:
            try:
                return tracker.log_model(
                    self._server_run_id(run_id), model, name, registered_model_name, **kwargs
                )
            except ConnectionFailedError:
                if not self._link.can_go_offline:
                    raise
                self._go_offline(run_id)
        return self._log_model_offline(run_id, model, name, registered_model_name, **kwargs)

    def _log_model_offline(
        self, run_id: str, model: Any, name: str, registered_model_name: str | None, **kwargs: Any
    ) -> Any:
        import uuid

        from mlops.tracking.offline import LocalModelInfo

        relative = Path("staged") / uuid.uuid4().hex[:12] / name
        target = self.workspace.path("wal") / run_id / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        flavor = self._tracker("log_model").save_model(model, target, **kwargs)
        event = {
            "path": str(relative),
            "name": name,
            "registered_model_name": registered_model_name,
        }
        self._telemetry().event(run_id, "model", event)
        return LocalModelInfo(name, run_id, registered_model_name, flavor)

    def register_model(
        self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None
    ) -> Any:
        """Register ``model_uri`` (``runs:/<id>/<name>``, ``models:/m-<id>``) as a new version."""
        return self._tracker("register_model").register_model(
            self._server_uri(model_uri), name, validate_tags(tags or {}, "register_model")
        )

    def load_model(self, model_uri: str, flavor: str = "pyfunc") -> Any:
        """Load a logged model: ``pyfunc`` (default), ``sklearn`` or ``pytorch``."""
        return self._tracker("load_model").load_model(self._server_uri(model_uri), flavor)

    def _server_uri(self, model_uri: str) -> str:
        """``runs:/<local id>/...`` of a synced offline run, as the server knows it."""
        if model_uri.startswith("runs:/"):
            run_id, sep, rest = model_uri[len("runs:/") :].partition("/")
            return f"runs:/{self._server_run_id(run_id)}{sep}{rest}"
        return model_uri

    def search_runs(
        self,
        filter_string: str = "",
        max_results: int = 100,
        order_by: list[str] | None = None,
    ) -> list[Run]:
        """Runs of this project's experiment, newest first unless ``order_by`` says otherwise."""
        return self._tracker("search_runs").search_runs(filter_string, max_results, order_by)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every pending metric point is stored; True if all arrived in time.

        ``None`` waits up to ``telemetry.flush_timeout``.
        """
        bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
        return self._telemetry().flush(bound)

    def sync(
        self,
        timeout: float | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        watch: bool = False,
    ) -> dict[str, Any]:
        """Deliver everything this project's log holds (offline runs, crashed processes).

        Runs the delivery loop here until nothing is left, or until ``timeout`` seconds
        (default ``telemetry.flush_timeout``) pass in which nothing was delivered: a
        backlog that keeps moving is delivered to the end, whatever its size. ``watch``
        keeps going. When a background agent already delivers, waits for it, with the
        same bound. ``progress(state)`` sees ``pending_points``, ``pending_records``
        (bytes), ``pending_runs``, ``delivered_points`` and ``rate`` (points/s).

        Returns:
            ``complete`` (1 when nothing is left), ``pending`` (bytes), ``pending_points``,
            ``pending_runs``, ``delivered_points``, ``set_aside`` and ``set_aside_reasons``,
            ``segments`` (how many there were at the start).
        """
        from mlops.telemetry.sync import sync_project

        bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
        return sync_project(self.settings, self.workspace.path("wal"), bound, progress, watch)

    def _close_tracking(self, timeout: float | None) -> None:
        with self._lock:
            open_runs = list(reversed(self._run_stack))
        for run_id in open_runs:
            self._finish_run(run_id, "KILLED")
        if self._writer is not None:
            bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
            self._writer.close(bound)


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
