"""Read-only views of a project's MLflow records, as plain data (lineage, dashboard, CLI).

Part of the MLflow adapter (:class:`~mlops.tracking._mlflow.MLflowTracker` mixes
:class:`ReadOperations` in). Nothing here creates anything: a project without
an experiment reads as empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlops.errors import NotFoundError, translate_errors
from mlops.tags import LOCAL_RUN_TAG, PROJECT_TAG
from mlops.tracking._errors import MLFLOW_ERRORS
from mlops.tracking._records import model_version_record, run_record

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.config import Settings

__all__ = ["ReadOperations"]


class ReadOperations:
    """The read half of the MLflow adapter (needs ``_client`` and ``settings``)."""

    _client: MlflowClient
    settings: Settings

    def existing_experiment_id(self) -> str | None:
        """The project's experiment id, or None when it has none (it is not created)."""
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            found = self._client.get_experiment_by_name(self.settings.experiment_name)
        return None if found is None else str(found.experiment_id)

    def tagged_projects(self) -> list[str]:
        """Projects named by the ``mlops.project`` tag of the store's experiments."""
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            found = self._client.search_experiments()
        return [e.tags[PROJECT_TAG] for e in found if e.tags.get(PROJECT_TAG)]

    def runs(self, max_results: int = 500, filter_string: str = "") -> list[dict[str, Any]]:
        """The project's runs, newest first, each as :func:`run_record` (none: no experiment)."""
        experiment = self.existing_experiment_id()
        if experiment is None:
            return []
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            found = self._client.search_runs(
                [experiment],
                filter_string,
                max_results=max_results,
                order_by=["attributes.start_time DESC"],
            )
        return [run_record(r) for r in found]

    def run(self, run_id: str, project_only: bool = False) -> dict[str, Any]:
        """One run as :func:`run_record`.

        Raises:
            NotFoundError: no such run (or, with ``project_only``, not in this project).
        """
        with translate_errors("tracking", "get_run", MLFLOW_ERRORS):
            record = run_record(self._client.get_run(run_id))
        if project_only and record["experiment_id"] != self.existing_experiment_id():
            raise NotFoundError(
                f"run {run_id!r} is not a run of project {self.settings.project!r}",
                component="tracking",
                operation="get_run",
                hint="pick a run from the project's runs",
            )
        return record

    def find_local_run(self, local_id: str) -> str | None:
        """The id of the project's run created from the offline run ``local_id`` (its tag
        ``mlops.local_run_id``), or None (none yet, or no experiment: nothing is created)."""
        experiment = self.existing_experiment_id()
        if experiment is None:
            return None
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            found = self._client.search_runs(
                [experiment],
                f"tags.`{LOCAL_RUN_TAG}` = '{local_id}'",
                run_view_type=3,  # ALL: a deleted run still owns its id
                max_results=1,
            )
        return str(found[0].info.run_id) if found else None

    def metric_histories(
        self, run_id: str, keys: Iterable[str]
    ) -> dict[str, list[dict[str, float]]]:
        """Every point of each metric ``key``: ``{"step", "timestamp", "value"}``, by step."""
        out = {}
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            for key in keys:
                points = self._client.get_metric_history(run_id, key)
                rows = [
                    {"step": p.step, "timestamp": p.timestamp, "value": p.value} for p in points
                ]
                out[key] = sorted(rows, key=lambda r: (r["step"], r["timestamp"]))
        return out

    def model_version(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A registered model version (the latest unless ``version``) as plain data.

        Raises:
            NotFoundError: no such model or version.
        """
        with translate_errors("tracking", "get_model_version", MLFLOW_ERRORS):
            if version is not None:
                return model_version_record(self._client.get_model_version(name, version))
            versions = self._client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise NotFoundError(
                f"no registered model {name!r} in {self.settings.tracking_uri}",
                component="tracking",
                operation="get_model_version",
                hint="register one: client.log_model(model, 'model', registered_model_name=...)",
            )
        return model_version_record(max(versions, key=lambda v: int(v.version)))

    def model_versions(self, run_ids: set[str]) -> list[dict[str, Any]]:
        """Registered model versions whose run is one of ``run_ids``."""
        if not run_ids:
            return []
        with translate_errors("tracking", "read", MLFLOW_ERRORS):
            found = self._client.search_model_versions(max_results=10000)
        return [model_version_record(v) for v in found if v.run_id in run_ids]
