"""Pick the MLflow flavor for a model object, with requirements known up front.

Passing ``pip_requirements`` spares MLflow its 6-25 s inference of them.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from mlops.errors import InvalidInputError

__all__ = ["flavor_for", "loader_for"]


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
        "mlflow.pyfunc.PythonModel; wrap anything else in a PythonModel, "
        "or use mlflow.<flavor>.log_model with client.tracker.global_uris()",
    )


def _is_instance(obj: Any, module: str, name: str) -> bool:
    # Only look at modules already imported: a model object implies its library is loaded
    # (a PythonModel subclass implies mlflow.pyfunc).
    mod = sys.modules.get(module)
    cls = getattr(mod, name, None) if mod else None
    return isinstance(cls, type) and isinstance(obj, cls)


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
