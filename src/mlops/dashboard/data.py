"""Read-only access to what the dashboard shows, through ``client.records``.

Nothing here writes: a project without an MLflow experiment shows as empty,
the workspace is read with ``create=False``, and the BentoML store is only
listed. Every value returned is plain Python.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.config import PROJECT_NAME_PATTERN, load_settings
from mlops.errors import NotFoundError
from mlops.invocation import mlops_command

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

__all__ = ["SYSTEM_PREFIX", "DashboardData", "ProjectData"]

SYSTEM_PREFIX = "system/"
# Settings of the repository as a whole, for discovery (no [projects.<x>] table applies).
_DISCOVERY_PROJECT = "mlops-dashboard"
_CHECK_NAME = re.compile(r"check (\d+)")
# A check with no numbers here: its facts read blank, not "no".
_NO_NUMBERS = {"dataset_drift": None, "retraining_suggested": None}


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
        return sorted(n for n in names if PROJECT_NAME_PATTERN.fullmatch(n) and ".." not in n)

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
                hint=f"start `{mlops_command('dashboard')}` without --project to see every project",
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
        self.records = client.records

    # tracking ----------------------------------------------------------------
    def has_store(self) -> bool:
        """False when the project's embedded sqlite store does not exist yet (nothing to read)."""
        return self.records.has_store()

    def tagged_experiments(self) -> list[str]:
        """Projects named by the ``mlops.project`` tag of the store's experiments."""
        return self.records.tagged_projects()

    def runs(self, max_results: int = 500) -> list[dict[str, Any]]:
        """The project's runs, newest first (see :func:`mlops.client._records.run_summary`)."""
        return self.records.runs(max_results)

    def run(self, run_id: str) -> dict[str, Any]:
        """One run of this project.

        Raises:
            NotFoundError: no such run in this project's experiment.
        """
        return self.records.run(run_id)

    def histories(self, run_id: str, keys: Iterable[str]) -> dict[str, list[dict[str, float]]]:
        """Every point of each metric ``key``: ``{"step", "timestamp", "value"}``, by step."""
        return self.records.histories(run_id, keys)

    def unsynced(self) -> dict[str, Any]:
        """Offline runs not on the server yet, and runs with data still on its way."""
        return self.records.unsynced()

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
        return self.records.model_versions()

    def bentos(self) -> list[dict[str, Any]]:
        """Bentos in the project's BentoML store labelled with this project, newest first."""
        return self.records.bentos()

    # monitoring ----------------------------------------------------------------
    def monitoring(self) -> dict[str, Any]:
        """The monitoring run's history (one step per check), state, reference and reports.

        With a team's Evidently service (``monitoring.workspace`` a URL), every machine's
        checks come from it: ``history`` (as the service lists them), ``latest`` (its newest
        check), and a row of ``checks`` each, with the numbers where this project's
        tracking store has them (a check another machine logged elsewhere has none).
        """
        out: dict[str, Any] = {"run_id": None, "checks": [], "series": {}}
        out.update(self.records.monitoring_files())
        run = self.records.monitoring_run()
        if run is not None:
            series = self.histories(run["run_id"], sorted(run["metrics"]))
            out.update(run_id=run["run_id"], series=series, checks=checks_table(series))
        history = self.records.service_checks()
        if history is not None:
            rows = service_checks(history)
            out.update(
                service=self.client.settings.monitoring_service,
                history=history,
                latest=rows[-1] if rows else None,
                checks=merge_checks(out["checks"], rows),
            )
        return out

    # lineage -------------------------------------------------------------------
    def lineage(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The recorded chain of ``model`` (see :meth:`MLOpsClient.lineage`); with a team's
        Evidently service, the latest check is the service's newest, from any machine."""
        chain = dict(self.client.lineage(model, version))
        monitoring = chain.get("monitoring") or {}
        rows = service_checks(monitoring.get("history") or [])
        if rows:
            newest = rows[-1]
            chain["monitoring"] = {
                **monitoring,
                "check": newest["check"],
                "timestamp": newest["timestamp"],
                "host": newest["host"],
            }
        return chain


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


def service_checks(history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ``check <n>`` the Evidently service lists: ``check``, ``timestamp`` (ms
    since the epoch), ``host``, ``snapshot_id``; by check number. Other snapshots are left
    out."""
    rows = {}
    for item in history:
        match = _CHECK_NAME.fullmatch(str(item.get("name") or ""))
        if match is None:
            continue
        stamp = item.get("timestamp")
        rows[int(match.group(1))] = {
            "check": int(match.group(1)),
            "timestamp": _ms(stamp),
            "host": (item.get("metadata") or {}).get("host"),
            "snapshot_id": item.get("id"),
        }
    return [rows[k] for k in sorted(rows)]


def merge_checks(
    recorded: list[dict[str, Any]], service: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The tracking store's check rows joined with the service's by check number: a check
    only the service holds gets a row with its time and host, and no numbers."""
    rows = {row["check"]: dict(row) for row in recorded}
    for check in service:
        row = rows.setdefault(check["check"], {**_NO_NUMBERS, "alert_types": []})
        row.update({k: v for k, v in check.items() if k not in row or row[k] is None})
    return [rows[k] for k in sorted(rows)]


def _ms(stamp: object) -> int | None:
    """Evidently's ISO timestamp as milliseconds since the epoch (without a zone it is the
    checking machine's local time, as Evidently stamps it: read as this machine's).

    A stamp in another form (another service version) leaves the time blank rather than
    the monitoring page broken; epoch seconds or milliseconds are read as such.
    """
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return int(stamp if stamp > 1e11 else stamp * 1000)
    if not isinstance(stamp, str):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None


def _first_use(version: dict[str, Any]) -> int:
    return min((r["start_time"] or 0 for r in version["runs"]), default=0)
