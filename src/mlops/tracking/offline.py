"""What an offline run looks like to the user: MLflow's shapes, made without MLflow.

``start_run`` yields a :class:`LocalRun` when the run starts offline (it has the
``info`` and ``data`` attributes of MLflow's ``Run`` that code reads), and
``log_model`` returns a :class:`LocalModelInfo`; the real ones exist once the
run is synced. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LocalModelInfo", "LocalRun", "LocalRunData", "LocalRunInfo"]


@dataclass
class LocalRunInfo:
    """The ``info`` of an offline run (as ``mlflow.entities.RunInfo``)."""

    run_id: str
    run_name: str | None
    start_time: int
    experiment_id: str | None = None
    user_id: str = ""
    status: str = "RUNNING"
    end_time: int | None = None
    lifecycle_stage: str = "active"
    artifact_uri: str | None = None

    @property
    def run_uuid(self) -> str:
        """The run id (MLflow's older name)."""
        return self.run_id


@dataclass
class LocalRunData:
    """The ``data`` of an offline run: tags set at start (params and metrics go to the log)."""

    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class LocalRun:
    """An offline run: ``run.info.run_id`` is its local id (the server run carries it as
    the tag ``mlops.local_run_id``; the client's lookups accept either id)."""

    info: LocalRunInfo
    data: LocalRunData

    offline: bool = True


@dataclass
class LocalModelInfo:
    """What ``log_model`` returns in an offline run: the model is logged (and registered)
    when the run is synced."""

    name: str
    run_id: str
    registered_model_name: str | None
    flavor: str
    registered_model_version: str | None = None

    @property
    def model_uri(self) -> str:
        """``runs:/<local run id>/<name>``: resolvable once the run is synced."""
        return f"runs:/{self.run_id}/{self.name}"
