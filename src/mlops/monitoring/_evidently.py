"""``EvidentlyMonitor``: the only module of ``mlops`` that imports Evidently (and pandas for it).

It stores the reference (Parquet + JSON schema), runs one Evidently ``Report``
per check (``DataDriftPreset`` over the features, ``ValueDrift`` on target and
prediction, quality metrics with tests against the reference), reads verdicts
from Evidently's test statuses, saves the HTML report and adds the snapshot to
an Evidently workspace (one Evidently project per ``mlops`` project).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Regression,
    Report,
)
from evidently.core.report import ReferenceMetricNotFound, Snapshot
from evidently.metrics import MAE, RMSE, Accuracy, F1Score, Precision, R2Score, Recall, ValueDrift
from evidently.presets import DataDriftPreset
from evidently.sdk.models import PanelMetric
from evidently.sdk.panels import line_plot_panel
from evidently.tests import Reference, gte, lte
from evidently.ui.workspace import Workspace as EvidentlyWorkspace

from mlops.config import Settings
from mlops.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ErrorMap,
    InvalidInputError,
    MLOpsClientError,
    redact,
    translate_errors,
)
from mlops.monitoring import text
from mlops.monitoring.outcome import CheckOutcome
from mlops.monitoring.reader import number, read_outcome
from mlops.monitoring.sampling import sample_positions
from mlops.monitoring.schema import (
    ReferenceSchema,
    check_batch,
    check_roles,
    column_kind,
    file_digest,
    infer_task,
    reject_empty_columns,
    role_names,
    sorted_labels,
)
from mlops.workspace import make_dir

__all__ = ["EVIDENTLY_ERRORS", "EvidentlyMonitor", "read_frame"]

COMPONENT = "monitoring"
# name -> (Evidently metric class, higher is better); tests compare to the reference.
CLASSIFICATION_METRICS = {
    "accuracy": (Accuracy, True),
    "precision": (Precision, True),
    "recall": (Recall, True),
    "f1": (F1Score, True),
}
REGRESSION_METRICS = {"rmse": (RMSE, False), "mae": (MAE, False), "r2": (R2Score, True)}
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
    ".json": pd.read_json,
    ".jsonl": lambda p: pd.read_json(p, lines=True),
}


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet, JSON or JSON-lines file into a DataFrame (for the CLI)."""
    file = Path(path)
    reader = READERS.get(file.suffix.lower())
    if not file.is_file() or reader is None:
        raise InvalidInputError(
            f"{file} is not a readable data file",
            component=COMPONENT,
            operation="read",
            hint=f"pass an existing file ending in one of {', '.join(READERS)}",
        )
    with translate_errors(COMPONENT, "read", hint=f"check that {file} is valid {file.suffix[1:]}"):
        return reader(file)


def _rejected(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return MLOpsClientError(
        f"Evidently rejected the data: {type(exc).__name__}: {exc}",
        hint="check the columns' types and values against the reference",
    )


def _service_failed(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return AuthenticationError(
            f"the Evidently UI service refused the secret (HTTP {status})",
            hint="set monitoring.secret (MLOPS_MONITORING_SECRET) to the service's --secret",
        )
    return ConnectionFailedError(
        f"the Evidently UI service did not answer: {type(exc).__name__}: {redact(str(exc))[:300]}",
        hint="start it (`evidently ui --host 0.0.0.0 --port 8000 --workspace <folder>`), fix "
        "monitoring.workspace, or raise monitoring.timeout",
    )


EVIDENTLY_ERRORS = ErrorMap(
    ("requests.exceptions:RequestException", _service_failed),
    ((ValueError, TypeError, KeyError), _rejected),
)


@contextmanager
def _evidently(operation: str) -> Iterator[None]:
    with translate_errors(COMPONENT, operation, mapper=EVIDENTLY_ERRORS):
        yield


class EvidentlyMonitor:
    """Reference storage and checks of one project on Evidently.

    Args:
        settings: The project's settings (``monitoring`` section, root); the reference
            lives in ``<workspace>/monitoring``, history in ``settings.monitoring_workspace``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.workspace_dir / "monitoring"
        make_dir(self.folder)
        self._cache: tuple[str, pd.DataFrame] | None = None
        self._history: EvidentlyWorkspace | None = None
        self._datasets: dict[tuple[str, ...], Dataset] = {}

    @property
    def schema_path(self) -> Path:
        """The reference's schema and roles (JSON)."""
        return self.folder / "reference.json"

    @property
    def data_path(self) -> Path:
        """The reference data (Parquet)."""
        return self.folder / "reference.parquet"

    # reference ---------------------------------------------------------------
    def set_reference(self, df: Any, target: str | None, prediction: str | None) -> ReferenceSchema:
        """Validate ``df``, sample it above ``max_rows``, and store it with its schema."""
        frame = _frame(df, "set_reference_data")
        frame, text_vocabulary = text.prepare_reference(frame)  # prompts -> text descriptors
        check_roles(list(frame.columns), target, prediction, "set_reference_data")
        frame, sampled = self._sample(frame)
        reject_empty_columns(_empty_columns(frame), "set_reference_data")
        schema = self._schema(frame, target, prediction, sampled)
        if not schema.features:
            raise InvalidInputError(
                "the reference has no numerical or categorical feature column to watch for drift",
                component=COMPONENT,
                operation="set_reference_data",
                hint="pass a frame with the model's input columns next to target and prediction",
            )
        tmp = self.data_path.with_suffix(".tmp")
        with translate_errors(COMPONENT, "set_reference_data", hint="install pyarrow for Parquet"):
            frame.to_parquet(tmp, index=False)
        schema.digest = file_digest(tmp)
        tmp.replace(self.data_path)
        text.save_vocabulary(self.folder, text_vocabulary)
        schema.save(self.schema_path)  # written last: it is what marks the reference as set
        self._cache = (schema.digest, frame)
        return schema

    def load_reference(self) -> tuple[ReferenceSchema, pd.DataFrame]:
        """The stored schema and data (kept in memory while the digest is unchanged)."""
        schema = ReferenceSchema.load(self.schema_path)
        if self._cache is None or self._cache[0] != schema.digest:
            with translate_errors(COMPONENT, "load_reference", hint="set the reference again"):
                self._cache = (schema.digest, pd.read_parquet(self.data_path))
        return schema, self._cache[1]

    def _schema(
        self,
        frame: pd.DataFrame,
        target: str | None,
        prediction: str | None,
        sampled: dict[str, Any],
    ) -> ReferenceSchema:
        dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
        roles = {target, prediction}
        features = [
            c
            for c in dtypes
            if c not in roles and column_kind(dtypes[c]) in ("numerical", "categorical")
        ]
        ignored = [c for c in dtypes if c not in roles and c not in features]
        task, labels = self._task(frame, target, prediction)
        return ReferenceSchema(
            columns=dtypes,
            features=features,
            ignored=ignored,
            target=target,
            prediction=prediction,
            task=task,
            labels=labels,
            rows=len(frame),
            sampled=sampled,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def _task(
        self, frame: pd.DataFrame, target: str | None, prediction: str | None
    ) -> tuple[str | None, list[Any] | None]:
        if target is None:
            return None, None
        values = frame[target].dropna()
        kind = column_kind(str(values.dtype))
        integral = kind == "numerical" and bool((values % 1 == 0).all())
        task = infer_task(
            self.settings.monitoring.task,
            kind,
            int(values.nunique()),
            integral,
            "set_reference_data",
        )
        if task != "classification":
            return task, None
        seen = set(values.unique()) | (
            set(frame[prediction].dropna().unique()) if prediction else set()
        )
        return task, sorted_labels(v.item() if hasattr(v, "item") else v for v in seen)

    def _sample(
        self, frame: pd.DataFrame, columns: list[str] | None = None
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Rows sampled above ``max_rows`` (rows first: a column subset of millions is a copy)."""
        cfg = self.settings.monitoring
        positions, info = sample_positions(len(frame), cfg.max_rows, cfg.seed)
        if positions is not None:
            frame = frame.iloc[positions]
        return (frame if columns is None else frame[columns]), info

    # checks ------------------------------------------------------------------
    def check(
        self, df: Any, target: str | None, prediction: str | None, metadata: dict[str, str]
    ) -> tuple[CheckOutcome, Snapshot, dict[str, Any]]:
        """Run one check of ``df`` against the reference; nothing is written.

        Returns the outcome, Evidently's snapshot, and how the data was sampled.
        """
        schema, frame, reference, roles, notes = self._prepare(df, target, prediction)
        definition = _definition(schema, roles)
        quality = {cls.__name__: (n, up) for n, (cls, up) in _metrics(schema).items()}
        with _evidently("monitor_predictions"):
            snapshot = self._report(schema, roles, metadata).run(
                Dataset.from_pandas(frame, data_definition=definition),
                self._reference_dataset(schema, roles, reference, definition),
            )
            outcome = read_outcome(
                snapshot.dict(), schema, roles, quality, lambda m: _reference_value(snapshot, m)
            )
        outcome.rows, outcome.skipped = len(frame), [*notes["skipped"], *outcome.skipped]
        return outcome, snapshot, notes["sampled"]

    def _prepare(
        self, df: Any, target: str | None, prediction: str | None
    ) -> tuple[ReferenceSchema, pd.DataFrame, pd.DataFrame, list[str], dict[str, Any]]:
        """Validate the batch; sample both frames; name role columns as the reference does."""
        frame = _frame(df, "monitor_predictions")
        schema, reference = self.load_reference()
        frame = text.prepare_batch(frame, self.folder)  # prompts -> text descriptors
        check_roles(list(frame.columns), target, prediction, "monitor_predictions")
        names, skipped = role_names(list(frame.columns), schema, target, prediction)
        check_batch(schema, _batch_dtypes(frame, names))
        frame, sampled = self._sample(frame, [*schema.features, *names.values()])
        frame = frame.rename(columns={v: k for k, v in names.items() if k != v})
        reject_empty_columns(_empty_columns(frame), "monitor_predictions")
        roles = list(names)
        reference, ref_sampled = self._sample(reference, [*schema.features, *roles])
        notes = {"skipped": skipped, "sampled": {"current": sampled, "reference": ref_sampled}}
        return schema, frame, reference, roles, notes

    def _reference_dataset(
        self, schema: ReferenceSchema, roles: list[str], frame: pd.DataFrame, definition: Any
    ) -> Dataset:
        """The reference as an Evidently Dataset, built once per reference, roles and size."""
        cfg = self.settings.monitoring
        key = (schema.digest, *roles, str(cfg.max_rows), str(cfg.seed), schema.task or "")
        if key not in self._datasets:
            self._datasets = {key: Dataset.from_pandas(frame, data_definition=definition)}
        return self._datasets[key]

    def _report(
        self, schema: ReferenceSchema, roles: list[str], metadata: dict[str, str]
    ) -> Report:
        cfg = self.settings.monitoring
        items: list[Any] = [DataDriftPreset(columns=schema.features, drift_share=cfg.drift_share)]
        items += [ValueDrift(column=c) for c in roles]
        if schema.task and len(roles) == 2:
            items += [
                _quality_metric(cls, up, cfg.performance_drop)
                for cls, up in _metrics(schema).values()
            ]
        return Report(
            items, metadata=dict(metadata), tags=["mlops", "monitoring"], include_tests=True
        )

    def save_html(self, snapshot: Snapshot, path: Path) -> Path:
        """Write Evidently's HTML report of ``snapshot`` to ``path``."""
        with _evidently("save_report"):
            snapshot.save_html(str(path))
        return path

    # history -----------------------------------------------------------------
    def history_path(self) -> Path:
        """The Evidently workspace: ``monitoring.workspace`` or ``<root>/.mlops/evidently``."""
        return self.settings.monitoring_workspace

    @property
    def workspace(self) -> EvidentlyWorkspace:
        """Evidently's own workspace of the monitoring history (the documented escape hatch):
        a local ``Workspace``, or a ``RemoteWorkspace`` of the team's Evidently UI service."""
        with _evidently("open_workspace"):
            if self._history is None:  # kept: opening a workspace costs tens of milliseconds
                service = self.settings.monitoring_service
                if service:
                    monitoring = self.settings.monitoring
                    self._history = _bounded_remote(service, monitoring.secret, monitoring.timeout)
                else:
                    self._history = EvidentlyWorkspace(str(self.history_path()))
            return self._history

    def count_snapshots(self) -> int:
        """How many checks of this project the Evidently workspace holds."""
        return len(self.snapshots())

    def snapshots(self) -> list[dict[str, Any]]:
        """This project's checks in the Evidently workspace: ``id``, ``name``, ``timestamp``,
        ``metadata``, oldest first (every machine's, with a shared service)."""
        workspace = self.workspace
        with _evidently("read_history"):
            found = workspace.search_project(self.settings.project)
            if not found:
                return []
            if self.settings.monitoring_service:
                # Evidently 0.7's RemoteWorkspace has no list_runs: the service's own API.
                path = f"/api/projects/{found[0].id}/snapshots"
                listed = workspace._request(path, "GET").json()
                rows = [_listed_row(item) for item in listed]
            else:
                runs = workspace.list_runs(found[0].id)
                rows = [_snapshot_row(workspace, found[0].id, run_id) for run_id in runs]
        return sorted(rows, key=lambda r: r["timestamp"] or "")

    def add_to_history(self, snapshot: Snapshot, project_id: str | None) -> tuple[str, str]:
        """Add ``snapshot`` to the project's Evidently project; return (project id, snapshot id)."""
        workspace = self.workspace
        with _evidently("add_to_history"):
            project = workspace.get_project(project_id) if project_id else None
            project = project or self._find_or_create(workspace)
            ref = workspace.add_run(project.id, snapshot)
        return str(project.id), str(ref.id)

    def _find_or_create(self, workspace: EvidentlyWorkspace) -> Any:
        """This project's Evidently project; a new one gets a dashboard of the key numbers."""
        found = workspace.search_project(self.settings.project)
        if found:
            return found[0]
        project = workspace.create_project(
            self.settings.project, description=f"mlops monitoring of {self.settings.project}"
        )
        for panel in _panels(ReferenceSchema.load(self.schema_path)):
            project.dashboard.add_panel(panel)
        return project


def _snapshot_row(workspace: Any, project_id: Any, run_id: Any) -> dict[str, Any]:
    snapshot = workspace.load_snapshot(project_id, run_id)
    timestamp = getattr(snapshot, "timestamp", None)
    return {
        "id": str(run_id),
        "name": getattr(snapshot, "name", None),
        "timestamp": timestamp.isoformat(timespec="seconds") if timestamp else None,
        "metadata": dict(getattr(snapshot, "metadata", None) or {}),
    }


def _listed_row(item: dict[str, Any]) -> dict[str, Any]:
    stamp = item.get("timestamp")
    return {
        "id": str(item.get("id")),
        "name": item.get("name"),
        "timestamp": str(stamp)[:19] if stamp else None,
        "metadata": dict(item.get("metadata") or {}),
    }


def _bounded_remote(url: str, secret: str | None, timeout: float) -> EvidentlyWorkspace:
    """Evidently's ``RemoteWorkspace``, with every request bounded by ``timeout`` seconds
    (Evidently's own sends without a timeout: a hung service would hang the caller)."""
    from evidently._pydantic_compat import parse_obj_as
    from evidently.errors import EvidentlyError
    from evidently.legacy.ui.workspace.remote import RemoteBase
    from evidently.ui.workspace import RemoteWorkspace
    from requests import Session

    class _Bounded(RemoteBase):  # type: ignore[misc]
        """Evidently's ``RemoteBase._request`` (0.7), sent with a timeout."""

        def _request(  # noqa: PLR0917 - the signature Evidently calls
            self,
            path: str,
            method: str,
            query_params: dict[str, Any] | None = None,
            body: dict[str, Any] | None = None,
            response_model: Any = None,
            cookies: Any = None,
            headers: dict[str, str] | None = None,
            form_data: bool = False,
        ) -> Any:
            request = self._prepare_request(
                path, method, query_params, body, cookies, headers, form_data=form_data
            )
            with Session() as session:
                response = session.send(request.prepare(), timeout=timeout)
            if response.status_code in (401, 403):
                # A refused secret: HTTPError keeps the status (an AuthenticationError then),
                # where Evidently's own would raise its bare "Not enough permissions".
                response.raise_for_status()
            if response.status_code >= 400:
                try:
                    detail = response.json()["detail"]
                except (ValueError, KeyError, TypeError):
                    detail = None
                if detail:
                    raise EvidentlyError(detail)
            response.raise_for_status()
            if response_model is not None:
                return parse_obj_as(response_model, response.json())
            return response

    class BoundedRemoteWorkspace(RemoteWorkspace, _Bounded):  # type: ignore[misc]
        """RemoteWorkspace whose requests time out."""

    return cast(EvidentlyWorkspace, BoundedRemoteWorkspace(url, secret=secret))


def _panels(schema: ReferenceSchema) -> list[Any]:
    """Line plots over checks: drift share, target/prediction drift, quality."""
    share = PanelMetric(
        legend="share", metric="DriftedColumnsCount", metric_labels={"value_type": "share"}
    )
    panels = [line_plot_panel("Share of drifted features", [share], size="half")]
    roles = [c for c in (schema.target, schema.prediction) if c]
    if roles:
        drift = [
            PanelMetric(legend=c, metric="ValueDrift", metric_labels={"column": c}) for c in roles
        ]
        panels.append(line_plot_panel("Target and prediction drift score", drift, size="half"))
    if schema.task and len(roles) == 2:
        quality = [
            PanelMetric(legend=n, metric=c.__name__, metric_labels=_value_labels(c))
            for n, (c, _) in _metrics(schema).items()
        ]
        panels.append(line_plot_panel(f"{schema.task.capitalize()} quality", quality))
    return panels


def _value_labels(metric: Any) -> dict[str, str]:
    # MAE's value is a mean and a standard deviation; the panel plots the mean.
    return {"value_type": "mean"} if metric is MAE else {}


def _frame(df: Any, operation: str) -> pd.DataFrame:
    if isinstance(df, str | Path):
        df = read_frame(df)
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(
            f"expected a pandas DataFrame, got {type(df).__name__} (a data file's path works too)",
            component=COMPONENT,
            operation=operation,
            hint="pass pd.DataFrame(...), or the path of a CSV, Parquet, JSON or JSON-lines file",
        )
    if df.empty:
        raise InvalidInputError(
            f"the DataFrame is empty ({df.shape[0]} rows, {df.shape[1]} columns)",
            component=COMPONENT,
            operation=operation,
            hint="pass at least one row and one column",
        )
    if not all(isinstance(c, str) for c in df.columns) or df.columns.has_duplicates:
        raise InvalidInputError(
            "column names must be unique strings",
            component=COMPONENT,
            operation=operation,
            hint="rename them, e.g. df.columns = [str(c) for c in df.columns]",
        )
    return df


def _empty_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c, empty in frame.isna().all().items() if empty]


def _batch_dtypes(frame: pd.DataFrame, names: dict[str, str]) -> dict[str, str]:
    """The batch's dtype names, keyed by the reference's column names."""
    dtypes = {str(c): str(t) for c, t in frame.dtypes.items()}
    return dtypes | {stored: dtypes[given] for stored, given in names.items()}


def _definition(schema: ReferenceSchema, roles: list[str]) -> DataDefinition:
    kinds = schema.kinds()
    role_kind = {"classification": "categorical", "regression": "numerical"}.get(schema.task or "")
    cols = {c: role_kind or kinds[c] for c in roles} | {c: kinds[c] for c in schema.features}
    numerical = [c for c, k in cols.items() if k == "numerical"]
    categorical = [c for c, k in cols.items() if k == "categorical"]
    task: dict[str, Any] = {}
    if schema.task and len(roles) == 2:
        task = _task_definition(schema)
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **task)


def _task_definition(schema: ReferenceSchema) -> dict[str, Any]:
    target, prediction = str(schema.target), str(schema.prediction)
    if schema.task == "regression":
        return {"regression": [Regression(target=target, prediction=prediction)]}
    labels = schema.labels or []
    if len(labels) <= 2:
        # The positive class: the last label in sorted order (1 of 0/1, True, "yes" of no/yes).
        pos = labels[-1] if labels else 1
        return {
            "classification": [
                BinaryClassification(target=target, prediction_labels=prediction, pos_label=pos)
            ]
        }
    return {
        "classification": [MulticlassClassification(target=target, prediction_labels=prediction)]
    }


def _metrics(schema: ReferenceSchema) -> dict[str, tuple[Any, bool]]:
    return CLASSIFICATION_METRICS if schema.task == "classification" else REGRESSION_METRICS


def _quality_metric(cls: Any, higher_is_better: bool, drop: float) -> Any:
    test = (gte if higher_is_better else lte)(Reference(relative=drop))
    return cls(mean_tests=[test]) if cls is MAE else cls(tests=[test])


def _reference_value(snapshot: Snapshot, metric_id: str) -> float | None:
    try:
        result = snapshot.context.get_reference_metric_result(metric_id)
    except ReferenceMetricNotFound:  # derives from BaseException, so named exactly
        return None
    return number(result.to_dict()["value"])
