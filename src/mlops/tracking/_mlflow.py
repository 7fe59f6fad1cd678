"""MLflowTracker: the only door to MLflow's tracking and registry APIs.

Every public method runs inside :func:`translate_errors` with the adapter's one
error map (:data:`~mlops.tracking._errors.MLFLOW_ERRORS`), and returns plain
Python (dicts, lists, strings) — except where the facade hands MLflow's own
objects to users on purpose (``start_run`` yields a ``Run``, ``log_model``
returns a ``ModelInfo``, ``mlflow_client`` is the escape hatch). Models live in
:mod:`mlops.tracking._models`, reads for lineage and the dashboard in
:mod:`mlops.tracking._reads`.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException

from mlops.config import Settings
from mlops.errors import ConfigurationError, InvalidInputError, translate_errors
from mlops.tags import PENDING_TAG, PROJECT_TAG
from mlops.tracking._errors import MLFLOW_ERRORS
from mlops.tracking._http import check_server
from mlops.tracking._models import ModelOperations
from mlops.tracking._reads import ReadOperations
from mlops.tracking._records import DATASET_CONTEXT_TAG

__all__ = ["MLflowTracker", "configure_http_bounds"]


def configure_http_bounds(timeout: float) -> None:
    """Bound MLflow's HTTP waits (default: 7 retries, 120 s each, ~246 s to fail).

    Only variables the user has not set are changed; they are process-wide.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(timeout / 3))))


class MLflowTracker(ModelOperations, ReadOperations):
    """Runs, params, tags, metric batches, artifacts, datasets and models of one project.

    Args:
        settings: The project's settings; the tracking URI is checked for
            reachability (bounded by ``tracking.timeout``) before first use.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.tracking_uri
        self.registry_uri = settings.tracking.registry_uri or self.uri
        configure_http_bounds(settings.tracking.timeout)
        with translate_errors("tracking", "connect", MLFLOW_ERRORS):
            self._prepare_store()
            with _sqlite_init_lock(self.uri):
                self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.registry_uri)
                # Touch the store now: a new sqlite file is migrated here, under the lock,
                # so that processes starting together do not race MLflow's migrations.
                self._client.search_experiments(max_results=1)
        self._experiment_id: str | None = None
        self._params: dict[str, dict[str, str]] = {}

    @property
    def mlflow_client(self) -> MlflowClient:
        """MLflow's own client, bound to this project's store (the documented escape hatch)."""
        return self._client

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

    # -- the project's experiment ---------------------------------------------------------

    @property
    def experiment_id(self) -> str:
        """The project's experiment, created (tagged with the project) on first use."""
        if self._experiment_id is None:
            with translate_errors("tracking", "get_experiment", MLFLOW_ERRORS):
                self._experiment_id = self._get_or_create_experiment()
        return self._experiment_id

    def _get_or_create_experiment(self) -> str:
        name = self.settings.experiment_name
        found = self._client.get_experiment_by_name(name)
        if found is None:
            try:
                return self._client.create_experiment(
                    name,
                    artifact_location=self._artifact_location(),
                    tags={PROJECT_TAG: self.settings.project},
                )
            except MlflowException as exc:  # another process created it first
                if str(exc.error_code) != "RESOURCE_ALREADY_EXISTS":
                    raise
                found = self._client.get_experiment_by_name(name)
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
        base = self.settings.artifact_root
        if "://" in base:
            return f"{base.rstrip('/')}/{self.settings.experiment_name}"
        return (Path(base) / self.settings.experiment_name).resolve().as_uri()

    # -- runs ---------------------------------------------------------------------------

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
        with translate_errors("tracking", "start_run", MLFLOW_ERRORS):
            return self._client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)

    def run_status(self, run_id: str) -> str:
        """``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``.

        Raises:
            NotFoundError: no such run.
        """
        with translate_errors("tracking", "get_run", MLFLOW_ERRORS):
            return str(self._client.get_run(run_id).info.status)

    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        """Mark the run terminated with ``status`` (at ``end_ms``), dropping the pending tag."""
        with translate_errors("tracking", "end_run", MLFLOW_ERRORS):
            run = self._client.get_run(run_id)
            if run.data.tags.get(PENDING_TAG) == "true":
                self._client.delete_tag(run_id, PENDING_TAG)
            self._client.set_terminated(run_id, status, end_time=end_ms)

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
        with translate_errors("tracking", "log_params", MLFLOW_ERRORS):
            for start in range(0, len(batch), 100):
                self._client.log_batch(run_id, params=batch[start : start + 100])
        known.update(params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a run (synchronous)."""
        batch = [RunTag(k, v) for k, v in tags.items()]
        with translate_errors("tracking", "set_tags", MLFLOW_ERRORS):
            for start in range(0, len(batch), 100):
                self._client.log_batch(run_id, tags=batch[start : start + 100])

    def log_metric_batch(self, run_id: str, points: Sequence[tuple[str, float, int, int]]) -> None:
        """Store ``(key, value, timestamp_ms, step)`` points, at most 1000 per call."""
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in points]
        with translate_errors("telemetry", "deliver", MLFLOW_ERRORS):
            for start in range(0, len(metrics), 1000):
                self._client.log_batch(
                    run_id, metrics=metrics[start : start + 1000], synchronous=True
                )

    def log_datasets(self, run_id: str, datasets: Sequence[Mapping[str, str]]) -> None:
        """Record dataset inputs, each ``{name, digest, source_type, source, context}``."""
        inputs = [
            DatasetInput(
                dataset=Dataset(
                    name=d["name"],
                    digest=d["digest"],
                    source_type=d["source_type"],
                    source=d["source"],
                ),
                tags=[InputTag(key=DATASET_CONTEXT_TAG, value=d["context"])],
            )
            for d in datasets
        ]
        with translate_errors("tracking", "log_inputs", MLFLOW_ERRORS):
            self._client.log_inputs(run_id, datasets=inputs)

    def log_artifact(
        self, run_id: str, path: Path, artifact_path: str | None, directory: bool
    ) -> None:
        """Upload a file (or a folder's contents) to the run's artifacts."""
        operation = "log_artifacts" if directory else "log_artifact"
        with translate_errors("tracking", operation, MLFLOW_ERRORS):
            if directory:
                self._client.log_artifacts(run_id, str(path), artifact_path)
            else:
                self._client.log_artifact(run_id, str(path), artifact_path)

    def search_runs(
        self, filter_string: str, max_results: int, order_by: list[str] | None
    ) -> list[Run]:
        """Runs of the project's experiment (MLflow ``Run`` objects, for the user)."""
        with translate_errors("tracking", "search_runs", MLFLOW_ERRORS):
            return list(
                self._client.search_runs(
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
