"""``MLOpsClient``: one object per project, delegating to one adapter per tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.client._status import StatusMixin
from mlops.client.monitoring import MonitoringMixin
from mlops.client.serving import ServingMixin
from mlops.client.tracking import TrackingMixin
from mlops.client.versioning import VersioningMixin
from mlops.config import Settings, load_settings

__all__ = ["MLOpsClient", "create_client"]


class MLOpsClient(StatusMixin, MonitoringMixin, ServingMixin, VersioningMixin, TrackingMixin):
    """One client for a project's whole lifecycle.

    Creating a client reads configuration only: no tool is imported and no
    server is contacted until the first call that needs one.

    Example:
        >>> client = MLOpsClient.from_project("lora-finetuning-mlx")  # doctest: +SKIP
        >>> with client.start_run(run_name="train"):                   # doctest: +SKIP
        ...     client.log_params({"lr": 1e-4})
        ...     client.log_metrics({"loss": 0.42}, step=1)
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    @classmethod
    def from_project(
        cls, project_name: str, repo_root: str | Path | None = None, **overrides: Any
    ) -> MLOpsClient:
        """Create the client of ``project_name`` from the central configuration.

        Args:
            project_name: Letters, digits, ``-``, ``_``, ``.``.
            repo_root: Where ``.mlops/`` lives; default: the folder of the
                central ``mlops.toml``, else the git root, else the working directory.
            **overrides: Settings that win over every other layer, as
                ``tracking_uri="..."`` or ``tracking={"uri": "..."}``.
        """
        return cls(load_settings(project_name, repo_root=repo_root, overrides=overrides))

    def get_workspace_path(self, subdir: str | None = None) -> Path:
        """The project's workspace folder, or ``subdir`` inside it, created if missing."""
        return self.workspace.path(subdir)

    def lineage(self, model_name: str, version: str | None = None) -> dict[str, Any]:
        """Where a registered model came from, as recorded along the way.

        Returns ``model`` (name, version, source, run_id), ``data`` (DVC versions the
        run used: path, md5...), ``run`` (id, params, final metrics), ``bentos``
        built from this version (tag, path, labels) and ``monitoring`` (latest
        check's numbers and the reference it compared against).
        """
        return self.records.lineage(model_name, version)

    def close(self, timeout: float | None = None) -> None:
        """End open runs, flush pending metric points (bounded) and stop background work."""
        bound = self.settings.telemetry.flush_timeout if timeout is None else timeout
        self._on_close(bound)
        self._close_tracking(timeout)

    def __enter__(self) -> MLOpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MLOpsClient(project={self.project!r}, root={str(self.settings.root)!r})"


def create_client(
    project_name: str, repo_root: str | Path | None = None, **overrides: Any
) -> MLOpsClient:
    """Shorthand for :meth:`MLOpsClient.from_project`."""
    return MLOpsClient.from_project(project_name, repo_root=repo_root, **overrides)
