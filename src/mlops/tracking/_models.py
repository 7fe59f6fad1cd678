"""Models in MLflow: logging with the right flavor, registering, resolving, fetching, loading.

Part of the MLflow adapter (:class:`~mlops.tracking._mlflow.MLflowTracker` mixes
:class:`ModelOperations` in). Passing ``pip_requirements`` spares MLflow its
6-25 s inference of them.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.entities import LoggedModelOutput

from mlops.errors import InvalidInputError, NotFoundError, translate_errors
from mlops.invocation import mlops_command
from mlops.tags import SAVED_MODEL_TAG
from mlops.tracking._errors import MLFLOW_ERRORS, is_lookup_miss, short
from mlops.tracking._records import datasets_of, version_model_id

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["ModelOperations", "flavor_for", "loader_for"]

_GLOBAL_URI_LOCK = threading.RLock()


class ModelOperations:
    """The model half of the MLflow adapter (needs ``_client``, ``uri``, ``registry_uri``)."""

    _client: MlflowClient
    uri: str
    registry_uri: str

    @property
    def experiment_id(self) -> str:  # provided by MLflowTracker
        raise NotImplementedError

    @contextmanager
    def global_uris(self) -> Iterator[None]:
        """Point MLflow's process-wide URIs at this project while a fluent API runs.

        MLflow's fluent model APIs read process-wide URIs; they are borrowed under
        a lock and fully restored (``set_registry_uri`` also exports
        ``MLFLOW_REGISTRY_URI``). MLflow's own prints to the console follow its
        logger's level (quiet under ``mlops``' CLI).
        """
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with _GLOBAL_URI_LOCK, _quiet_prints():
            saved_registry = registry_utils._registry_uri
            saved_env = os.environ.get("MLFLOW_REGISTRY_URI")
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
        flavor, default_requirements = flavor_for(model)
        kwargs.setdefault("pip_requirements", default_requirements)
        if flavor.__name__ == "mlflow.pytorch" and kwargs.get("input_example") is None:
            # MLflow 3 defaults to "pt2", which cannot be written without an input example.
            kwargs.setdefault("serialization_format", "pickle")
        with translate_errors("tracking", "log_model", MLFLOW_ERRORS), self.global_uris():
            if "model_id" not in kwargs:
                # Created here so that it lands in the project's experiment, not in MLflow's
                # process-wide active experiment.
                params = self._client.get_run(run_id).data.params
                kwargs["model_id"] = self._client.create_logged_model(
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
            self._client.log_outputs(run_id, [LoggedModelOutput(info.model_id, 0)])
            return info

    def save_model(self, model: Any, path: Path, **kwargs: Any) -> str:
        """Save ``model`` as an MLflow model folder at ``path`` (nothing is sent); its flavor."""
        flavor, default_requirements = flavor_for(model)
        kwargs.setdefault("pip_requirements", default_requirements)
        if flavor.__name__ == "mlflow.pytorch" and kwargs.get("input_example") is None:
            kwargs.setdefault("serialization_format", "pickle")
        with translate_errors("tracking", "log_model", MLFLOW_ERRORS):
            if flavor.__name__ == "mlflow.pyfunc":
                flavor.save_model(str(path), python_model=model, **kwargs)
            else:
                flavor.save_model(model, str(path), **kwargs)
        return str(flavor.__name__)

    def log_saved_model(
        self,
        run_id: str,
        path: Path,
        name: str,
        registered_model_name: str | None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """Log a model folder saved by :meth:`save_model` to ``run_id``, register it if asked.

        Idempotent per ``event_id`` (where the model comes from, e.g. its write-ahead log
        event): the logged model and the registered version are tagged with it at
        creation, and a retry after a partial attempt (a failure, or a lost
        acknowledgement) finds and finishes them instead of making second ones.

        Returns ``model_id`` and ``registered_version`` (None when not registered).
        """
        from mlflow.entities import LoggedModelStatus

        tags = {SAVED_MODEL_TAG: event_id} if event_id else {}
        with translate_errors("telemetry", "log_model", MLFLOW_ERRORS), self.global_uris():
            run = self._client.get_run(run_id)
            logged = self._logged_from(run_id, event_id) or self._client.create_logged_model(
                self.experiment_id,
                name=name,
                source_run_id=run_id,
                params=run.data.params,
                tags=tags,
            )
            if logged.status != LoggedModelStatus.READY:  # new, or an attempt cut short
                self._upload_saved(logged, run_id, path)
            outputs = run.outputs.model_outputs if run.outputs else []
            if logged.model_id not in {o.model_id for o in outputs}:
                self._client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
            version = None
            if registered_model_name:
                version = self._registered_from(run_id, logged.model_id, registered_model_name)
                if version is None:
                    mv = mlflow.register_model(
                        f"models:/{logged.model_id}", registered_model_name, tags=tags or None
                    )
                    version = str(mv.version)
        return {"model_id": logged.model_id, "registered_version": version}

    def _upload_saved(self, logged: Any, run_id: str, path: Path) -> None:
        """Point the folder's MLmodel at ``logged``, upload the folder, mark the model READY."""
        from mlflow.entities import LoggedModelStatus
        from mlflow.models import Model

        mlmodel = Model.load(str(path / "MLmodel"))
        mlmodel.run_id, mlmodel.model_id = run_id, logged.model_id
        mlmodel.model_uuid, mlmodel.artifact_path = logged.model_id, logged.artifact_location
        mlmodel.save(str(path / "MLmodel"))
        self._client.log_model_artifacts(logged.model_id, str(path))
        self._client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)

    def _logged_from(self, run_id: str, event_id: str | None) -> Any:
        """The logged model of ``run_id`` made from ``event_id`` by an earlier attempt, if any."""
        if not event_id:
            return None
        found = self._client.search_logged_models(
            [self.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        # Compared here rather than in the filter: the id holds a path, with any characters.
        mine = [m for m in found if m.tags.get(SAVED_MODEL_TAG) == event_id]
        return min(mine, key=lambda m: m.creation_timestamp) if mine else None

    def _registered_from(self, run_id: str, model_id: str, name: str) -> str | None:
        """The version of ``name`` already registered from ``model_id``, if any."""
        versions = self._client.search_model_versions(f"run_id = '{run_id}'")
        mine = [v for v in versions if v.name == name and version_model_id(v) == model_id]
        return str(min(int(v.version) for v in mine)) if mine else None

    def register_model(self, model_uri: str, name: str, tags: Mapping[str, str]) -> Any:
        """Register ``model_uri`` under ``name``; returns the ModelVersion."""
        with translate_errors("tracking", "register_model", MLFLOW_ERRORS), self.global_uris():
            return mlflow.register_model(model_uri, name, tags=dict(tags) or None)

    def download_model(self, model_uri: str, dst: Path) -> Path:
        """Download a model's files (``runs:/``, ``models:/`` URIs) into ``dst``; their folder."""
        import mlflow.artifacts

        with (
            translate_errors("tracking", "download_model", MLFLOW_ERRORS, hint="check the URI"),
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
        load = loader_for(flavor)
        with translate_errors("tracking", "load_model", MLFLOW_ERRORS), self.global_uris():
            return load(model_uri)

    def model_origin(self, model_uri: str, parts: Mapping[str, str]) -> dict[str, Any]:
        """Which run, registered version and logged model an MLflow model URI names.

        Args:
            model_uri: The URI, for messages.
            parts: Its parts (``scheme`` and ``run_id``/``path``, ``name``/``version``,
                ``name``/``alias`` or ``model_id``).

        Returns:
            ``run_id``, ``registered_model``, ``registered_version``, ``model_id`` and the
            run's dataset inputs (``datasets``, plain records), the run read once.

        Raises:
            NotFoundError: the run, registered model, version, alias or logged model
                does not exist.
        """
        with translate_errors("serving", "deploy_model", _origin_errors(model_uri)):
            return self._origin(parts)

    def _origin(self, parts: Mapping[str, str]) -> dict[str, Any]:
        client = self._client
        out: dict[str, Any] = dict.fromkeys(
            ("run_id", "registered_model", "registered_version", "model_id")
        )
        run = None
        if parts["scheme"] == "runs":
            run = client.get_run(parts["run_id"])
            out["run_id"] = run.info.run_id
            out["model_id"] = self._logged_model_id(run, parts["path"])
        elif "model_id" in parts:
            logged = client.get_logged_model(parts["model_id"])
            out["model_id"], out["run_id"] = logged.model_id, logged.source_run_id
        else:
            version = (
                client.get_model_version_by_alias(parts["name"], parts["alias"])
                if "alias" in parts
                else client.get_model_version(parts["name"], parts["version"])
            )
            out["registered_model"], out["registered_version"] = version.name, str(version.version)
            out["run_id"] = version.run_id or None
            out["model_id"] = version_model_id(version)
        if out["registered_model"] is None and out["run_id"]:
            self._find_registered_version(out)
        if run is None and out["run_id"]:
            run = client.get_run(out["run_id"])
        out["datasets"] = datasets_of(run) if run is not None else []
        return out

    def _logged_model_id(self, run: Any, name: str) -> str | None:
        """The MLflow 3 logged model called ``name`` that ``run`` produced, if any.

        MLflow files a model logged outside a fluent run under the active (often
        default) experiment, not the run's, so the other experiments are searched
        when the run's own has none.
        """
        query = f"name = '{name}' AND source_run_id = '{run.info.run_id}'"
        own = [run.info.experiment_id]
        found = self._client.search_logged_models(experiment_ids=own, filter_string=query)
        if not found:
            others = [
                e.experiment_id
                for e in self._client.search_experiments()
                if e.experiment_id != run.info.experiment_id
            ]
            if others:
                found = self._client.search_logged_models(
                    experiment_ids=others, filter_string=query
                )
        return str(found[0].model_id) if found else None

    def registered_version_of(
        self, run_id: str, model_id: str | None = None
    ) -> tuple[str, str] | None:
        """``(name, version)`` of the one registered version from ``run_id`` (and ``model_id``)."""
        out: dict[str, Any] = {"run_id": run_id, "model_id": model_id, "registered_model": None}
        with translate_errors("tracking", "search_model_versions", MLFLOW_ERRORS):
            self._find_registered_version(out)
        if out["registered_model"] is None:
            return None
        return str(out["registered_model"]), str(out["registered_version"])

    def _find_registered_version(self, out: dict[str, Any]) -> None:
        """Fill in the registered version pointing at the same model, when exactly one does."""
        versions = list(self._client.search_model_versions(f"run_id = '{out['run_id']}'"))
        if out["model_id"]:
            versions = [v for v in versions if version_model_id(v) == out["model_id"]]
        if len(versions) == 1:
            out["registered_model"] = versions[0].name
            out["registered_version"] = str(versions[0].version)


def _origin_errors(model_uri: str) -> Any:
    """MLflow's misses named after the URI the user gave; the rest as usual."""

    def mapper(exc: BaseException) -> Any:
        if is_lookup_miss(exc):
            first = short(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return NotFoundError(
                f"MLflow has no model at {model_uri!r}: {first}",
                hint="check the run id / model name and version with "
                f"`{mlops_command('runs', 'list')}` or the MLflow UI",
            )
        return MLFLOW_ERRORS(exc)

    return mapper


@contextmanager
def _quiet_prints() -> Iterator[None]:
    """Send MLflow's console prints (``Successfully registered model ...``) nowhere
    while its logger is quieter than INFO."""
    from mlflow.utils import logging_utils

    if logging.getLogger("mlflow").getEffectiveLevel() <= logging.INFO:
        yield
        return
    saved = logging_utils.MLFLOW_LOGGING_STREAM
    stream_type: Any = logging_utils.MlflowLoggingStream  # untyped in MLflow
    silent = stream_type()
    silent.enabled = False
    logging_utils.MLFLOW_LOGGING_STREAM = silent
    try:
        yield
    finally:
        logging_utils.MLFLOW_LOGGING_STREAM = saved


def flavor_for(model: Any) -> tuple[ModuleType, list[str]]:
    """Return the flavor module for ``model`` and its default pip requirements."""
    if _is_instance(model, "mlflow.pyfunc", "PythonModel"):
        import mlflow.pyfunc

        return mlflow.pyfunc, mlflow.pyfunc.get_default_pip_requirements()
    if _is_instance(model, "torch.nn", "Module"):
        import mlflow.pytorch

        return mlflow.pytorch, mlflow.pytorch.get_default_pip_requirements()
    if _is_instance(model, "sklearn.base", "BaseEstimator"):
        import mlflow.sklearn

        return mlflow.sklearn, mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True)
    raise InvalidInputError(
        f"cannot log a {type(model).__module__}.{type(model).__qualname__} as a model",
        component="tracking",
        operation="log_model",
        hint="log_model takes scikit-learn estimators, torch.nn.Module and "
        "mlflow.pyfunc.PythonModel; wrap anything else in a PythonModel",
    )


def _is_instance(obj: Any, module: str, name: str) -> bool:
    # Only look at modules already imported: a model object implies its library is loaded
    # (a PythonModel subclass implies mlflow.pyfunc).
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod else None
    return isinstance(cls, type) and isinstance(obj, cls)


def _takes_kwargs(flavor: Any) -> bool:
    params = inspect.signature(flavor.log_model).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params) and flavor.__name__ in (
        "mlflow.sklearn",
        "mlflow.pytorch",
    )


def loader_for(flavor: str) -> Any:
    """Return the ``load_model`` function of ``flavor``."""
    if flavor == "pyfunc":
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model
    if flavor == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model
    if flavor == "pytorch":
        import mlflow.pytorch

        return mlflow.pytorch.load_model
    raise InvalidInputError(
        f"unknown model flavor {flavor!r}",
        component="tracking",
        operation="load_model",
        hint="use 'pyfunc', 'sklearn' or 'pytorch'",
    )
