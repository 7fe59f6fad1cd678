"""Where a deployed model comes from: an MLflow model URI or a folder with a predictor.

Parsing and validation only (standard library): which run, registered version
and logged model a URI names is asked of the tracking adapter
(``MLflowTracker.model_origin``). Nothing is written here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import InvalidInputError, NotFoundError

__all__ = [
    "ModelSource",
    "check_predictor",
    "is_mlflow_uri",
    "labels_as_strings",
    "parse_model_uri",
    "predictor_extras",
    "validate_tag_part",
]

_TAG_PART = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")
_PREDICTOR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_OPERATION = "deploy_model"


@dataclass
class ModelSource:
    """A model to deploy and its lineage.

    Attributes:
        kind: ``mlflow``, ``predictor``, or a generation folder's kind (``mlx-lm-adapter``...).
        uri: The MLflow URI, or the folder's absolute path.
        run_id: The MLflow run that logged it, when known.
        registered_model: Registered model name, when the URI names one.
        registered_version: Its version, when known.
        model_id: MLflow 3 logged-model id (``m-...``), when known.
        predictor: ``package.module:Class`` for folders.
        data_versions: The run's DVC data versions, when it has a run.
        extra: What a folder needs (``base_model`` of an adapter, ``local`` MLmodel folder).
    """

    kind: str
    uri: str
    run_id: str | None = None
    registered_model: str | None = None
    registered_version: str | None = None
    model_id: str | None = None
    predictor: str | None = None
    data_versions: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _invalid(
    message: str, hint: str | None = None, cls: type[InvalidInputError] = InvalidInputError
) -> Exception:
    return cls(message, component="serving", operation=_OPERATION, hint=hint)


def validate_tag_part(value: str | None, what: str) -> str | None:
    """Return ``value`` if BentoML accepts it as a tag name or version, else raise."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 63 or not _TAG_PART.fullmatch(value):
        suggestion = (
            re.sub(r"[^-._a-z0-9]+", "-", str(value).lower()).strip("-._")[:63] or "my-model"
        )
        raise _invalid(
            f"{what} {value!r} is not a valid BentoML tag part",
            "use lowercase letters, digits, '-', '_' and '.', at most 63 characters, "
            f"e.g. {suggestion!r}",
        )
    return value


def parse_model_uri(model_path: str) -> dict[str, str]:
    """Split an MLflow model URI into its parts.

    Example:
        >>> parse_model_uri("models:/iris/3")
        {'scheme': 'models', 'name': 'iris', 'version': '3'}
        >>> parse_model_uri("runs:/abc123/model")
        {'scheme': 'runs', 'run_id': 'abc123', 'path': 'model'}
    """
    if model_path.startswith("runs:/"):
        run_id, _, path = model_path[len("runs:/") :].strip("/").partition("/")
        if run_id and path:
            return {"scheme": "runs", "run_id": run_id, "path": path}
    elif model_path.startswith("models:/"):
        rest = model_path[len("models:/") :].strip("/")
        if rest.startswith("m-") and "/" not in rest and "@" not in rest:
            return {"scheme": "models", "model_id": rest}
        if "@" in rest:
            name, _, alias = rest.partition("@")
            if name and alias:
                return {"scheme": "models", "name": name, "alias": alias}
        name, _, version = rest.rpartition("/")
        if name and version:
            return {"scheme": "models", "name": name, "version": version}
    raise _invalid(
        f"cannot read the model URI {model_path!r}",
        "use runs:/<run_id>/<name>, models:/<name>/<version>, models:/<name>@<alias>, "
        "models:/m-<id>, or a local folder with predictor='package.module:Class'",
    )


def is_mlflow_uri(model_path: str) -> bool:
    """True for ``runs:/`` and ``models:/`` URIs."""
    return model_path.startswith(("runs:/", "models:/"))


def check_predictor(folder: Path, predictor: str | None) -> str:
    """Validate a folder deployment: the folder exists and ``predictor`` imports and predicts.

    The module is imported here, so a typo fails now and not in the server.
    """
    if not folder.is_dir():
        raise _invalid(
            f"{str(folder)!r} is neither an MLflow model URI nor an existing folder",
            "pass runs:/..., models:/..., or the path of a folder of model files",
            NotFoundError,
        )
    if not predictor:
        raise _invalid(
            f"deploying the folder {str(folder)!r} needs a predictor: it is no model folder "
            "mlops knows (MLflow model, mlx-lm or PEFT adapter, MLX/Hugging Face model)",
            "pass predictor='package.module:Class' "
            "(a class with __init__(self, path) and predict(self, data))",
        )
    if not _PREDICTOR.fullmatch(predictor):
        raise _invalid(
            f"predictor {predictor!r} is not 'package.module:Class'",
            "e.g. 'my_pkg.serving:Predictor'",
        )
    module_name, _, class_name = predictor.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise _invalid(
            f"cannot import predictor {predictor!r}: {exc}",
            "make the module importable (installed, or on sys.path) and check the class name",
        ) from exc
    if not callable(getattr(cls, "predict", None)):
        raise _invalid(f"predictor {predictor!r} has no predict(self, data) method")
    return predictor


def predictor_extras(predictor: str) -> dict[str, Path]:
    """Source files to copy into the service folder so the predictor imports in the server.

    A module from an installed distribution (site-packages) is expected to be
    installed where the Bento runs; any other module's top-level package (or
    single file) is copied.
    """
    top = predictor.partition(":")[0].split(".")[0]
    try:
        module = sys.modules.get(top) or importlib.import_module(top)
    except ImportError as exc:
        raise _invalid(
            f"cannot import predictor {predictor!r} to package it: {exc}",
            "make its module importable here (installed, or on sys.path), then deploy again",
        ) from exc
    origin = getattr(module, "__file__", None)
    if origin is None or "site-packages" in Path(origin).parts:
        return {}
    path = Path(origin)
    if path.name == "__init__.py":
        return {top: path.parent}
    return {path.name: path}


def labels_as_strings(labels: dict[str, Any]) -> dict[str, str]:
    """BentoML labels are strings: lists and dicts become compact JSON, None is dropped."""
    out = {}
    for key, value in labels.items():
        if value is None:
            continue
        out[key] = (
            value
            if isinstance(value, str)
            else json.dumps(value, separators=(",", ":"), sort_keys=True)
        )
    return out
