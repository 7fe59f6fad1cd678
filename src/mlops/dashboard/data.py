"""Read-only access to what the dashboard shows, through the client and MLflow's own client.

Nothing here writes: a project without an MLflow experiment shows as empty
(``client.search_runs`` would create the experiment, so MLflow's client is
asked directly), the workspace is read with ``create=False``, and the
BentoML store is only listed. Every value returned is plain Python.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.components import is_available
from mlops.config import PROJECT_NAME_PATTERN, load_settings
from mlops.errors import NotFoundError
from mlops.lineage import bento_summary, read_json
from mlops.tags import PROJECT_TAG, RUN_TYPE_TAG

if TYPE_CHECKING:
    from mlflow.entities import Run

    from mlops.client import MLOpsClient

__all__ = ["SYSTEM_PREFIX", "DashboardData", "ProjectData"]

SYSTEM_PREFIX = "system/"
# Settings of the repository as a whole, for discovery (no [projects.<x>] table applies).
_DISCOVERY_PROJECT = "mlops-dashboard"


class DashboardData:
    """The projects one dashboard serves: one, or every project found under ``root``.

    Args:
        root: The repository root holding ``.mlops/``.
        project: Serve only this project; None discovers all of them.
    """

    def __init__(self, root: Path, project: str | None = None) -> None:
        self.root = root
        self.only = project
        self._lock = threading.Lock()
        self._projects: dict[str, ProjectData] = {}

    def projects(self) -> list[str]:
        """Project names: experiments tagged by ``mlops`` plus workspace folders, sorted."""
        if self.only is not None:
            return [self.only]
        names = {p.name for p in (self.root / ".mlops" / "workspaces").glob("*") if p.is_dir()}
        base = self.project_data(_DISCOVERY_PROJECT, discovery=True)
        names.update(base.tagged_experiments())
        names.discard(_DISCOVERY_PROJECT)
        # A stray folder or a hand-made tag that is no valid project name is not a project.
        return sorted(n for n in names if PROJECT_NAME_PATTERN.match(n) and ".." not in n)

    def project_data(self, name: str, discovery: bool = False) -> ProjectData:
        """The read-only view of project ``name``.

        Raises:
            NotFoundError: the dashboard serves another project only.
        """
        if not discovery and self.only is not None and name != self.only:
            raise NotFoundError(
                f"this dashboard serves project {self.only!r} only, not {name!r}",
                component="dashboard",
                operation="read",
                hint="start `mlops dashboard` without --project to see every project",
            )
        with self._lock:
            if name not in self._projects:
                from mlops.client import MLOpsClient

                settings = load_settings(name, repo_root=self.root)
                self._projects[name] = ProjectData(MLOpsClient(settings))
            return self._projects[name]

    def close(self) -> None:
        """Close every client this dashboard opened."""
        with self._lock:
            for data in self._projects.values():
                data.client.close(timeout=1)
            self._projects.clear()


class ProjectData:
    """What one project recorded: runs, metric histories, data versions, models, monitoring."""

    def __init__(self, client: MLOpsClient) -> None:
        self.client = client
        self.name = client.project

    # tracking ----------------------------------------------------------------
    def has_store(self) -> bool:
        """False when the project's embedded sqlite store does not exist yet (nothing to read)."""
        uri = self.client.settings.tracking_uri
        return not uri.startswith("sqlite:///") or Path(uri[len("sqlite:///") :]).is_file()

    def tagged_experiments(self) -> list[str]:
        """Projects named by the ``mlops.project`` tag of the store's experiments."""
        if not self.has_store():
            return []
        found = self.client.mlflow_client.search_experiments()
        return [e.tags[PROJECT_TAG] for e in found if e.tags.get(PROJECT_TAG)]

    def experiment_id(self) -> str | None:
        """The project's experiment id, or None when it has none (it is not created)."""
        if not self.has_store():
            return None
        name = self.client.settings.experiment_name
        found = self.client.mlflow_client.get_experiment_by_name(name)
        return None if found is None else str(found.experiment_id)

    def _runs(self, max_results: int = 500) -> list[Run]:
        experiment = self.experiment_id()
        if experiment is None:
            return []
        return list(
            self.client.mlflow_client.search_runs(
                [experiment], max_results=max_results, order_by=["attributes.start_time DESC"]
            )
        )

    def runs(self, max_results: int = 500) -> list[dict[str, Any]]:
        """The project's runs, newest first, each as :func:`run_summary`."""
        return [run_summary(r) for r in self._runs(max_results)]

    def run(self, run_id: str) -> dict[str, Any]:
        """One run of this project.

        Raises:
            NotFoundError: no such run in this project's experiment.
        """
        experiment = self.experiment_id()
        try:
            run = self.client.mlflow_client.get_run(run_id)
        except Exception as exc:  # MLflow raises its own exception for an unknown id
            raise _no_run(run_id, self.name) from exc
        if experiment is None or run.info.experiment_id != experiment:
            raise _no_run(run_id, self.name)
        return run_summary(run)

    def histories(self, run_id: str, keys: Iterable[str]) -> dict[str, list[dict[str, float]]]:
        """Every point of each metric ``key``: ``{"step", "timestamp", "value"}``, by step."""
        mlflow = self.client.mlflow_client
        out = {}
        for key in keys:
            points = mlflow.get_metric_history(run_id, key)
            rows = [{"step": p.step, "timestamp": p.timestamp, "value": p.value} for p in points]
            out[key] = sorted(rows, key=lambda r: (r["step"], r["timestamp"]))
        return out

    # data versions -------------------------------------------------------------
    def data_versions(self) -> list[dict[str, Any]]:
        """Each DVC data version the project's runs recorded, with the runs that used it."""
        versions: dict[tuple[str, str], dict[str, Any]] = {}
        for run in self.runs():
            for used in run["data_versions"]:
                key = (str(used.get("path")), str(used.get("md5")))
                entry = versions.setdefault(key, {**used, "runs": []})
                entry["runs"].append(
                    {
                        "run_id": run["run_id"],
                        "name": run["name"],
                        "start_time": run["start_time"],
                        "context": used.get("context"),
                    }
                )
        return sorted(versions.values(), key=lambda v: (v["path"], -_first_use(v)))

    # models --------------------------------------------------------------------
    def model_versions(self) -> list[dict[str, Any]]:
        """Registered model versions whose run belongs to this project, newest first."""
        run_ids = {r["run_id"] for r in self.runs(5000)}
        if not run_ids:
            return []
        found = self.client.mlflow_client.search_model_versions(max_results=10000)
        rows = [_model_version(v) for v in found if v.run_id in run_ids]
        return sorted(rows, key=lambda v: -int(v["creation_timestamp"] or 0))

    def bentos(self) -> list[dict[str, Any]]:
        """Bentos in the project's BentoML store labelled with this project, newest first."""
        home = getattr(self.client, "bentoml_home", None)
        if home is None or not (Path(home) / "bentos").is_dir() or not is_available("serving"):
            return []
        rows = [bento_summary(b) for b in self.client.deployer.bento_store.list()]
        mine = [b for b in rows if b["labels"].get("project") in (None, self.name)]
        return sorted(mine, key=lambda b: b["created"] or "", reverse=True)

    # monitoring ----------------------------------------------------------------
    def monitoring(self) -> dict[str, Any]:
        """The monitoring run's history (one step per check), state, reference and reports."""
        folder = self.client.workspace.path("monitoring", create=False)
        reports = self.client.workspace.path("reports", create=False)
        out: dict[str, Any] = {
            "run_id": None,
            "checks": [],
            "series": {},
            "state": read_json(folder / "state.json"),
            "reference": read_json(folder / "reference.json"),
            "reports": sorted(p.name for p in reports.glob("monitoring-*.html")),
        }
        run = next((r for r in self.runs() if r["run_type"] == "monitoring"), None)
        if run is None:
            return out
        series = self.histories(run["run_id"], sorted(run["metrics"]))
        out.update(run_id=run["run_id"], series=series, checks=checks_table(series))
        return out

    # lineage -------------------------------------------------------------------
    def lineage(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The recorded chain of ``model`` (see :func:`mlops.lineage.build_lineage`)."""
        return dict(self.client.lineage(model, version))


def run_summary(run: Run) -> dict[str, Any]:
    """A run as plain data: ids, name, status, times, params, latest metrics, data versions."""
    from mlops.versioning.lineage import versions_from_run

    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name or run.info.run_id[:8],
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "run_type": tags.get(RUN_TYPE_TAG) or "training",
        "parent_run_id": tags.get("mlflow.parentRunId"),
        "data_versions": versions_from_run(run),
    }


def checks_table(series: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """One row per monitoring check (step) from the monitoring run's metric series."""
    rows: dict[int, dict[str, Any]] = {}
    for key, points in series.items():
        for point in points:
            row = rows.setdefault(int(point["step"]), {"check": int(point["step"])})
            row[key] = point["value"]
            row["timestamp"] = max(row.get("timestamp", 0), point["timestamp"])
    for row in rows.values():
        row["alert_types"] = [
            name
            for name, key in (
                ("data_drift", "dataset_drift"),
                ("target_drift", "target_drift"),
                ("prediction_drift", "prediction_drift"),
            )
            if row.get(key)
        ]
    return [rows[k] for k in sorted(rows)]


def _first_use(version: dict[str, Any]) -> int:
    return min((r["start_time"] or 0 for r in version["runs"]), default=0)


def _no_run(run_id: str, project: str) -> NotFoundError:
    return NotFoundError(
        f"run {run_id!r} is not a run of project {project!r}",
        component="dashboard",
        operation="read",
        hint="pick a run from the project's runs page",
    )


def _model_version(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": str(v.version),
        "run_id": v.run_id,
        "source": v.source,
        "status": v.status,
        "creation_timestamp": v.creation_timestamp,
        "aliases": list(getattr(v, "aliases", []) or []),
    }
