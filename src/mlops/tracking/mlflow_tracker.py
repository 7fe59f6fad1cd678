"""MLflowTracker: the only place that talks to MLflow's tracking and registry APIs.

Every public method runs inside :func:`translate_errors` with :func:`map_mlflow_error`,
so no MLflow, requests or SQLAlchemy exception leaves it untranslated.
"""

from __future__ import annotations

import fcntl
import getpass
import inspect
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException, RestException

from mlops.config import Settings
from mlops.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
    redact,
    translate_errors,
)
from mlops.tags import PROJECT_TAG

__all__ = ["MLflowTracker", "configure_http_bounds", "map_mlflow_error"]

_GLOBAL_URI_LOCK = threading.RLock()
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_INVALID_CODES = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "BAD_REQUEST",
    "INVALID_STATE",
}


def map_mlflow_error(exc: BaseException) -> MLOpsClientError | None:
    """Translate an MLflow, HTTP or database exception into ours (None: no rule)."""
    if isinstance(exc, MlflowException):
        code = str(exc.error_code)
        message = _short(exc.message)
        if code in _NOT_FOUND_CODES:
            return NotFoundError(message)
        if code in _INVALID_CODES:
            return InvalidInputError(message)
        if isinstance(exc, RestException) or "API request" in message:
            return ConnectionFailedError(message, hint="check that the tracking server is up")
        return MLOpsClientError(message)
    name = type(exc).__name__
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return OperationTimeoutError(f"{name}: {_short(str(exc))}")
    if name in ("ConnectionError", "OperationalError", "MaxRetryError") or isinstance(exc, OSError):
        return ConnectionFailedError(f"{name}: {_short(str(exc))}")
    return None


def _short(text: str, limit: int = 600) -> str:
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def configure_http_bounds(timeout: float) -> None:
    """Bound MLflow's HTTP waits (default: 7 retries, 120 s each, ~246 s to fail).

    Only variables the user has not set are changed; they are process-wide.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(timeout / 3))))


class MLflowTracker:
    """Runs, params, tags, metric batches, artifacts and models of one project.

    Args:
        settings: The project's settings; the tracking URI is checked for
            reachability (bounded by ``tracking.timeout``) before first use.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.tracking_uri
        self.registry_uri = settings.tracking.registry_uri or self.uri
        configure_http_bounds(settings.tracking.timeout)
        with translate_errors("tracking", "connect", map_mlflow_error):
            self._prepare_store()
            with _sqlite_init_lock(self.uri):
                self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.registry_uri)
                # Touch the store now: a new sqlite file is migrated here, under the lock,
                # so that processes starting together do not race MLflow's migrations.
                self.client.search_experiments(max_results=1)
        self._experiment_id: str | None = None
        self._params: dict[str, dict[str, str]] = {}

    @property
    def is_remote(self) -> bool:
        """True when the store is an MLflow server reached over HTTP."""
        return self.uri.startswith(("http://", "https://"))

    def _prepare_store(self) -> None:
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        elif self.uri.startswith("file:") or "://" not in self.uri:
            raise ConfigurationError(
                f"tracking URI {self.uri!r} is a file store, which MLflow 3 no longer supports",
                hint="use sqlite:///path/to/mlflow.db, or leave tracking.uri unset for the default",
            )
        elif self.is_remote:
            check_server(self.uri, self.settings.tracking.timeout)

    @property
    def experiment_id(self) -> str:
        """The project's experiment, created (tagged with the project) on first use."""
        if self._experiment_id is None:
            with translate_errors("tracking", "get_experiment", map_mlflow_error):
                self._experiment_id = self._get_or_create_experiment()
        return self._experiment_id

    def _get_or_create_experiment(self) -> str:
        name = self.settings.experiment_name
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(
                    name,
                    artifact_location=self._artifact_location(),
                    tags={PROJECT_TAG: self.settings.project},
                )
            except MlflowException as exc:  # another process created it first
                if str(exc.error_code) != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self.client.get_experiment_by_name(name)
                assert found is not None
        if found.lifecycle_stage == "deleted":
            raise InvalidInputError(
                f"experiment {name!r} of project {self.settings.project!r} is deleted",
                hint="restore it: mlflow experiments restore --experiment-id "
                + str(found.experiment_id),
            )
        return str(found.experiment_id)

    def _artifact_location(self) -> str | None:
        if self.is_remote:
            return None  # the server decides (proxied artifacts)
        base = self.settings.tracking.artifact_location or str(
            self.settings.mlops_dir / "artifacts"
        )
        if "://" in base:
            return f"{base.rstrip('/')}/{self.settings.experiment_name}"
        return (Path(base) / self.settings.experiment_name).resolve().as_uri()

    def create_run(
        self,
        run_name: str | None,
        tags: Mapping[str, str],
        description: str | None,
        parent_run_id: str | None,
    ) -> Run:
        """Create a run on the project's experiment with source and git tags."""
        all_tags = {**_source_tags(self.settings.root), PROJECT_TAG: self.settings.project, **tags}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        if description:
            all_tags["mlflow.note.content"] = description
        with translate_errors("tracking", "start_run", map_mlflow_error):
            return self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)

    def end_run(self, run_id: str, status: str) -> None:
        """Mark the run terminated with ``status``."""
        with translate_errors("tracking", "end_run", map_mlflow_error):
            self.client.set_terminated(run_id, status)

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Log params; a key re-logged with another value is rejected before writing."""
        known = self._params.setdefault(run_id, {})
        for key, value in params.items():
            if key in known and known[key] != value:
                raise InvalidInputError(
                    f"param {key!r} is already {known[key]!r} on run {run_id}; got {value!r}",
                    component="tracking",
                    operation="log_params",
                    hint="params are immutable per run: use a new key, a tag, or a new run",
                )
        batch = [Param(k, v) for k, v in params.items() if known.get(k) != v]
        with translate_errors("tracking", "log_params", map_mlflow_error):
            for start in range(0, len(batch), 100):
                self.client.log_batch(run_id, params=batch[start : start + 100])
        known.update(params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a run (synchronous)."""
        batch = [RunTag(k, v) for k, v in tags.items()]
        with translate_errors("tracking", "set_tags", map_mlflow_error):
            for start in range(0, len(batch), 100):
                self.client.log_batch(run_id, tags=batch[start : start + 100])

    def log_metric_batch(self, run_id: str, points: Sequence[tuple[str, float, int, int]]) -> None:
        """Store ``(key, value, timestamp_ms, step)`` points, at most 1000 per call."""
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in points]
        with translate_errors("telemetry", "deliver", map_mlflow_error):
            for start in range(0, len(metrics), 1000):
                self.client.log_batch(
                    run_id, metrics=metrics[start : start + 1000], synchronous=True
                )

    def log_artifact(
        self, run_id: str, path: Path, artifact_path: str | None, directory: bool
    ) -> None:
        """Upload a file (or a folder's contents) to the run's artifacts."""
        operation = "log_artifacts" if directory else "log_artifact"
        if not path.exists() or path.is_dir() != directory:
            kind = "folder" if directory else "file"
            raise NotFoundError(
                f"no {kind} at {path}",
                component="tracking",
                operation=operation,
                hint=f"pass the path of an existing {kind}",
            )
        with translate_errors("tracking", operation, map_mlflow_error):
            if directory:
                self.client.log_artifacts(run_id, str(path), artifact_path)
            else:
                self.client.log_artifact(run_id, str(path), artifact_path)

    @contextmanager
    def global_uris(self) -> Iterator[None]:
        """Point MLflow's process-wide URIs at this project while a fluent API runs."""
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with _GLOBAL_URI_LOCK:
            saved_registry = registry_utils._registry_uri
            saved_env = os.environ.get("MLFLOW_REGISTRY_URI")  # set_registry_uri exports it
            mlflow.set_registry_uri(self.registry_uri)
            try:
                with tracking_utils._use_tracking_uri(self.uri):
                    yield
            finally:
                registry_utils._registry_uri = saved_registry
                if saved_env is None:
                    os.environ.pop("MLFLOW_REGISTRY_URI", None)
                else:
                    os.environ["MLFLOW_REGISTRY_URI"] = saved_env

    def log_model(
        self, run_id: str, model: Any, name: str, registered_model_name: str | None, **kwargs: Any
    ) -> Any:
        """Log ``model`` with the flavor its type calls for; returns MLflow's ModelInfo."""
        from mlops.tracking.models import flavor_for

        flavor, default_requirements = flavor_for(model)
        kwargs.setdefault("pip_requirements", default_requirements)
        if flavor.__name__ == "mlflow.pytorch" and kwargs.get("input_example") is None:
            # MLflow 3 defaults to "pt2", which cannot be written without an input example.
            kwargs.setdefault("serialization_format", "pickle")
        with translate_errors("tracking", "log_model", map_mlflow_error), self.global_uris():
            if "model_id" not in kwargs:
                # Created here so that it lands in the project's experiment, not in MLflow's
                # process-wide active experiment.
                params = self.client.get_run(run_id).data.params
                kwargs["model_id"] = self.client.create_logged_model(
                    self.experiment_id, name=name, source_run_id=run_id, params=params
                ).model_id
            if "run_id" in inspect.signature(flavor.log_model).parameters or _takes_kwargs(flavor):
                return flavor.log_model(
                    model,
                    name=name,
                    registered_model_name=registered_model_name,
                    run_id=run_id,
                    **kwargs,
                )
            # pyfunc.log_model has no run_id: log, then link the model to the run ourselves.
            info = flavor.log_model(
                python_model=model, name=name, registered_model_name=registered_model_name, **kwargs
            )
            self.client.log_outputs(run_id, [LoggedModelOutput(info.model_id, 0)])
            return info

    def register_model(self, model_uri: str, name: str, tags: Mapping[str, str]) -> Any:
        """Register ``model_uri`` under ``name``; returns the ModelVersion."""
        with translate_errors("tracking", "register_model", map_mlflow_error), self.global_uris():
            return mlflow.register_model(model_uri, name, tags=dict(tags) or None)

    def download_model(self, model_uri: str, dst: Path) -> Path:
        """Download a model's files (``runs:/``, ``models:/`` URIs) into ``dst``; their folder."""
        import mlflow.artifacts

        with (
            translate_errors(
                "tracking", "download_model", map_mlflow_error, hint="check the model URI"
            ),
            self.global_uris(),  # MLflow 3 resolves runs:/ and models:/ through process-wide URIs
        ):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri,
                dst_path=str(dst),
                tracking_uri=self.uri,
                registry_uri=self.registry_uri,
            )
        return Path(local)

    def load_model(self, model_uri: str, flavor: str) -> Any:
        """Load a model with the ``pyfunc``, ``sklearn`` or ``pytorch`` flavor."""
        from mlops.tracking.models import loader_for

        load = loader_for(flavor)
        with translate_errors("tracking", "load_model", map_mlflow_error), self.global_uris():
            return load(model_uri)

    def search_runs(
        self, filter_string: str, max_results: int, order_by: list[str] | None
    ) -> list[Run]:
        """Runs of the project's experiment."""
        with translate_errors("tracking", "search_runs", map_mlflow_error):
            return list(
                self.client.search_runs(
                    [self.experiment_id],
                    filter_string,
                    max_results=max_results,
                    order_by=order_by or ["attributes.start_time DESC"],
                )
            )


@contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri[len("sqlite:///") :]).with_suffix(".init.lock")
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _takes_kwargs(flavor: Any) -> bool:
    params = inspect.signature(flavor.log_model).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params) and flavor.__name__ in (
        "mlflow.sklearn",
        "mlflow.pytorch",
    )


def check_server(uri: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds unless an MLflow server answers at ``uri``."""
    url = uri.rstrip("/") + "/health"
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=max(0.5, deadline - time.monotonic())) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = exc
            break  # it answered, but not as an MLflow server
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    raise ConnectionFailedError(
        f"no MLflow tracking server answered at {redact(uri)} within {timeout:g} s ({last})",
        component="tracking",
        operation="connect",
        hint="start it (`mlops server start`), fix MLOPS_TRACKING_URI, or raise tracking.timeout",
    )


def _source_tags(root: Path) -> dict[str, str]:
    tags = {
        "mlflow.user": _user(),
        "mlflow.source.name": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
        "mlflow.source.type": "LOCAL",
    }
    commit = _git_commit(root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _git_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
