"""``client.records``: what a project recorded, read-only, as plain data.

One door for everything that reads back (lineage, the dashboard, ``mlops runs``):
runs, metric histories, model versions, Bentos and monitoring checks, each
through its adapter's read methods. Nothing here creates anything — a project
without an MLflow experiment or a BentoML store reads as empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.components import is_available
from mlops.errors import InvalidInputError
from mlops.tags import RUN_TYPE_TAG
from mlops.versioning.lineage import versions_from_datasets
from mlops.workspace import Workspace, read_json

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.monitoring._evidently import EvidentlyMonitor
    from mlops.serving._bentoml import BentoMLDeployer
    from mlops.tracking._mlflow import MLflowTracker

__all__ = ["MONITORING_FILTER", "ProjectRecords", "run_summary"]

#: MLflow filter of the project's monitoring run.
MONITORING_FILTER = f"tags.`{RUN_TYPE_TAG}` = 'monitoring'"


class ProjectRecords:
    """Read-only, plain-data views of one project's records.

    Args:
        settings: The project's settings.
        workspace: Its workspace (read with ``create=False``).
        tracker: Returns the MLflow adapter.
        deployer: Returns the BentoML adapter.
        server_id: Maps an offline run's local id to the server's (others unchanged).
        monitor: Returns the Evidently adapter (read only with a team's Evidently service).
    """

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        tracker: Callable[[str], MLflowTracker],
        deployer: Callable[[str], BentoMLDeployer],
        server_id: Callable[[str], str] = str,
        *,
        monitor: Callable[[str], EvidentlyMonitor] | None = None,
    ) -> None:
        self.settings, self.workspace = settings, workspace
        self._tracker, self._deployer, self._server_id = tracker, deployer, server_id
        self._monitor = monitor

    # tracking ---------------------------------------------------------------------------
    def has_store(self) -> bool:
        """False when the project's embedded sqlite store does not exist yet (nothing to read)."""
        uri = self.settings.tracking_uri
        return not uri.startswith("sqlite:///") or Path(uri[len("sqlite:///") :]).is_file()

    def tagged_projects(self) -> list[str]:
        """Projects named by the ``mlops.project`` tag of the store's experiments."""
        return self._tracker("read").tagged_projects() if self.has_store() else []

    def runs(self, max_results: int = 500, include_monitoring: bool = True) -> list[dict[str, Any]]:
        """The project's runs, newest first, each as :func:`run_summary`."""
        if not self.has_store():
            return []
        found = [run_summary(r) for r in self._tracker("read").runs(max_results)]
        return [r for r in found if include_monitoring or r["run_type"] != "monitoring"]

    def run(self, run_id: str) -> dict[str, Any]:
        """One run of this project as :func:`run_summary` (by its id or, once it is synced,
        an offline run's local id).

        Raises:
            NotFoundError: no such run in this project.
        """
        return run_summary(self._tracker("read").run(self._server_id(run_id), project_only=True))

    def histories(self, run_id: str, keys: Iterable[str]) -> dict[str, list[dict[str, float]]]:
        """Every point of each metric ``key``: ``{"step", "timestamp", "value"}``, by step.

        ``run_id`` may be an offline run's local id once the run is synced.
        """
        return self._tracker("read").metric_histories(self._server_id(run_id), keys)

    def model_versions(self) -> list[dict[str, Any]]:
        """Registered model versions whose run belongs to this project, newest first."""
        run_ids = {r["run_id"] for r in self.runs(5000)}
        if not run_ids:
            return []
        rows = self._tracker("read").model_versions(run_ids)
        return sorted(rows, key=lambda v: -int(v["creation_timestamp"] or 0))

    def model_version(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A registered model version (latest unless ``version``).

        Raises:
            NotFoundError: no such model or version.
        """
        return self._tracker("lineage").model_version(name, version)

    # serving ----------------------------------------------------------------------------
    def bentos(self, project_only: bool = True) -> list[dict[str, Any]]:
        """Bentos of the BentoML store (labelled with this project), newest first."""
        home = self.settings.bentoml_home
        if not (home / "bentos").is_dir() or not is_available("serving"):
            return []
        rows = self._deployer("list").list_bentos()
        if project_only:
            rows = [b for b in rows if b["labels"].get("project") in (None, self.settings.project)]
        return sorted(rows, key=lambda b: b["created"] or "", reverse=True)

    # monitoring -------------------------------------------------------------------------
    def monitoring_run(self) -> dict[str, Any] | None:
        """The monitoring run (latest check's numbers in ``metrics``), or None."""
        if not self.has_store():
            return None
        found = self._tracker("read").runs(1, MONITORING_FILTER)
        return run_summary(found[0]) if found else None

    def monitoring_files(self) -> dict[str, Any]:
        """The check counter, the stored reference's schema and the HTML reports."""
        folder = self.workspace.path("monitoring", create=False)
        reports = self.workspace.path("reports", create=False)
        return {
            "state": read_json(folder / "state.json"),
            "reference": read_json(folder / "reference.json"),
            "reports": sorted(p.name for p in reports.glob("monitoring-*.html")),
        }

    def service_checks(self) -> list[dict[str, Any]] | None:
        """The checks a team's Evidently service holds (every machine's), oldest first;
        None when ``monitoring.workspace`` is not a service."""
        if not (self.settings.monitoring_service and self._monitor):
            return None
        history: list[dict[str, Any]] = self._monitor("records").snapshots()
        return history

    # the log ----------------------------------------------------------------------------
    def unsynced(self) -> dict[str, Any]:
        """Runs not (fully) in the tracking store yet, read from the write-ahead log.

        ``offline``: runs logged offline and not created on the server yet (``run_id``
        is the local id, ``name``, ``start_time``); ``pending``: ids (the server's) of
        runs with data still waiting.
        """
        from mlops.telemetry.runs import offline_info, server_id
        from mlops.telemetry.sync import pending_on_disk

        wal = self.workspace.root / "wal"
        offline = []
        for folder in sorted(wal.iterdir()) if wal.is_dir() else []:
            info = offline_info(folder) if folder.is_dir() else None
            if info is not None and server_id(folder) is None:
                offline.append(
                    {
                        "run_id": folder.name,
                        "name": info.get("run_name") or folder.name[:8],
                        "start_time": info.get("start_time"),
                    }
                )
        waiting = pending_on_disk(wal)["runs"]
        return {"offline": offline, "pending": sorted({self._server_id(r) for r in waiting})}

    # lineage ----------------------------------------------------------------------------
    def lineage(self, model_name: str, version: str | None = None) -> dict[str, Any]:
        """The recorded chain of ``model_name`` (latest version unless ``version``).

        ``model`` (name, version, source, run_id, model_id) -> ``data`` (DVC versions
        the run used) -> ``run`` (params, final metrics) -> ``bentos`` built from this
        version -> ``monitoring`` (latest check and the reference it compared with).
        """
        if not isinstance(model_name, str) or not model_name:
            raise InvalidInputError(
                "lineage needs a registered model name",
                component="lineage",
                operation="lineage",
                hint="e.g. client.lineage('demo-classifier')",
            )
        mv = self.model_version(model_name, version)
        run = self._tracker("lineage").run(mv["run_id"]) if mv["run_id"] else None
        bentos = [
            b
            for b in self.bentos(project_only=False)
            if b["labels"].get("registered_model") == mv["name"]
            and str(b["labels"].get("registered_version")) == mv["version"]
        ]
        return {
            "model": {k: mv[k] for k in ("name", "version", "source", "run_id", "model_id")},
            "data": versions_from_datasets(run["datasets"]) if run else [],
            "run": _run_part(run),
            "bentos": bentos,
            "monitoring": self._monitoring_part(),
        }

    def _monitoring_part(self) -> dict[str, Any]:
        files = self.monitoring_files()
        run = self.monitoring_run()
        reference = files["reference"]
        out = {
            "checks": files["state"].get("checks", 0),
            "latest": dict(run["metrics"]) if run else None,
            "monitoring_run_id": run["run_id"] if run else None,
            "reference": {
                k: reference.get(k)
                for k in ("digest", "rows", "created_at", "target", "prediction")
            },
        }
        history = self.service_checks()  # a team's service: every machine's checks
        if history is not None:
            out.update(checks=len(history), history=history)
        return out


def run_summary(record: dict[str, Any]) -> dict[str, Any]:
    """A run record with what ``mlops`` reads from it: run type, parent, data versions."""
    tags = record["tags"]
    return {
        **record,
        "run_type": tags.get(RUN_TYPE_TAG) or "training",
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "data_versions": versions_from_datasets(record["datasets"]),
    }


def _run_part(run: dict[str, Any] | None) -> dict[str, Any]:
    if run is None:
        return {}
    return {
        "run_id": run["run_id"],
        "name": run["name"],
        "status": run["status"],
        "params": dict(run["params"]),
        "metrics": {k: v for k, v in run["metrics"].items() if not k.startswith("system/")},
    }
