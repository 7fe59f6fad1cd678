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
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException

from mlops.config import Settings
from mlops.errors import ConfigurationError, InvalidInputError, translate_errors
from mlops.tags import PROJECT_TAG
from mlops.tracking._errors import MLFLOW_ERRORS
from mlops.tracking._http import check_server
from mlops.tracking._models import ModelOperations
from mlops.tracking._reads import ReadOperations
from mlops.tracking._records import DATASET_CONTEXT_TAG
from mlops.tracking.source import source_tags
from mlops.workspace import make_dir

__all__ = ["MLflowTracker", "configure_http_bounds"]


#: Set in the environment to the names :func:`configure_http_bounds` chose (not the user).
CHOSEN_ENV = "MLOPS_HTTP_BOUNDS_CHOSEN"


def configure_http_bounds(request_timeout: float, raise_timeout: bool = False) -> None:
    """Bound MLflow's HTTP waits (default: 7 retries, 120 s each, ~246 s to fail).

    ``request_timeout`` is each request's limit (``raise_timeout``: also over a lower
    one chosen here before, for delivery). Only variables the user has not set are
    changed; they are process-wide, and named in ``MLOPS_HTTP_BOUNDS_CHOSEN`` so a
    child process (the delivery agent) knows they are ours to choose again.
    """
    chosen = set(filter(None, os.environ.get(CHOSEN_ENV, "").split(",")))
    defaults = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(request_timeout))),
    }
    for name, value in defaults.items():
        ours = name in chosen
        if name not in os.environ or (raise_timeout and ours and name.endswith("_TIMEOUT")):
            os.environ[name] = value
            chosen.add(name)
    os.environ[CHOSEN_ENV] = ",".join(sorted(chosen))


class MLflowTracker(ModelOperations, ReadOperations):
    """Runs, params, tags, metric batches, artifacts, datasets and models of one project.

    Args:
        settings: The project's settings. With ``tracking.offline = "never"`` a
            server is checked for reachability (bounded by ``tracking.timeout``)
            here; otherwise nothing touches the network until a call needs it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.tracking_uri
        self.registry_uri = settings.tracking.registry_uri or self.uri
        configure_http_bounds(settings.tracking.timeout / 3)
        with translate_errors("tracking", "connect", MLFLOW_ERRORS):
            self._prepare_store()
            with _sqlite_init_lock(self.uri):
                self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.registry_uri)
                if self.uri.startswith("sqlite:"):
                    # Touch the store now: a new sqlite file is migrated here, under the lock,
                    # so that processes starting together do not race MLflow's migrations.
                    self._client.search_experiments(max_results=1)
        self._experiment_id: str | None = None

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
            make_dir(Path(self.uri[len("sqlite:///") :]).parent)
        elif self.uri.startswith("file:") or "://" not in self.uri:
            raise ConfigurationError(
                f"tracking URI {self.uri!r} is a file store, which MLflow 3 no longer supports",
                hint="use sqlite:///path/to/mlflow.db, or leave tracking.uri unset for the default",
            )
        elif self.is_remote and self.settings.tracking.offline == "never":
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
        all_tags = {**source_tags(self.settings.root), PROJECT_TAG: self.settings.project, **tags}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        if description:
            all_tags["mlflow.note.content"] = description
        with translate_errors("tracking", "start_run", MLFLOW_ERRORS):
            return self._client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)

    def create_run_as(
        self,
        run_name: str | None,
        start_time: int,
        tags: Mapping[str, str],
        experiment_name: str | None = None,
    ) -> str:
        """Create a run as it was started elsewhere (an offline run): its time, its tags.

        ``tags`` are complete (source, project, parent, note, local run id). Returns the id.
        """
        with translate_errors("telemetry", "create_run", MLFLOW_ERRORS):
            experiment = self.experiment_id
            if experiment_name and experiment_name != self.settings.experiment_name:
                found = self._client.get_experiment_by_name(experiment_name)
                experiment = (
                    str(found.experiment_id)
                    if found
                    else self._client.create_experiment(
                        experiment_name, tags={PROJECT_TAG: self.settings.project}
                    )
                )
            run = self._client.create_run(
                experiment, start_time=start_time, tags=dict(tags), run_name=run_name
            )
            return str(run.info.run_id)

    def find_run_by_tag(self, key: str, value: str) -> str | None:
        """The id of the project's run whose tag ``key`` is ``value`` (any lifecycle), or None."""
        with translate_errors("telemetry", "find_run", MLFLOW_ERRORS):
            found = self._client.search_runs(
                [self.experiment_id],
                f"tags.`{key}` = '{value}'",
                run_view_type=3,  # ALL: a deleted run still owns its id
                max_results=1,
            )
        return str(found[0].info.run_id) if found else None

    def run_status(self, run_id: str) -> str:
        """``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``.

        Raises:
            NotFoundError: no such run.
        """
        with translate_errors("tracking", "get_run", MLFLOW_ERRORS):
            return str(self._client.get_run(run_id).info.status)

    def run_is_active(self, run_id: str) -> bool:
        """False when the run does not exist or is deleted (nothing can be logged to it)."""
        with translate_errors("tracking", "get_run", MLFLOW_ERRORS):
            try:
                run = self._client.get_run(run_id)
            except MlflowException as exc:
                if str(exc.error_code) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                    return False
                raise
        return str(run.info.lifecycle_stage) == "active"

    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        """Mark the run terminated with ``status`` (at ``end_ms``, default now)."""
        with translate_errors("tracking", "end_run", MLFLOW_ERRORS):
            self._client.set_terminated(run_id, status, end_time=end_ms)

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Log params (the store rejects a key re-logged with another value)."""
        batch = [Param(k, v) for k, v in params.items()]
        with translate_errors("tracking", "log_params", MLFLOW_ERRORS):
            for start in range(0, len(batch), 100):
                self._client.log_batch(run_id, params=batch[start : start + 100])

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
