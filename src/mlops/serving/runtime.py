"""What a generated service runs: load the model, turn JSON into model input, answer JSON.

This module is copied verbatim into every Bento as ``mlops_serving_runtime.py``,
so a Bento runs where ``mlops`` is not installed: it imports only the standard
library at module top, and numpy, pandas and MLflow when a model is loaded.

Request bodies carry ``data``: a list of rows (``[[1.0, 2.0], ...]``) or a list
of records (``[{"a": 1.0, "b": 2.0}, ...]``). Bad input raises :class:`InputError`,
which the service answers with HTTP 400.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["InputError", "MLflowPredictor", "UserPredictor", "load_predictor", "to_json"]


class InputError(ValueError):
    """The request's data cannot be given to the model (answered with HTTP 400)."""


def load_predictor(kind: str, path: str, predictor: str | None) -> Any:
    """Build the predictor of a stored model: ``kind`` is ``mlflow`` or ``predictor``."""
    if kind == "mlflow":
        return MLflowPredictor(path)
    if kind == "predictor" and predictor:
        return UserPredictor(path, predictor)
    raise ValueError(f"unknown model kind {kind!r} (predictor={predictor!r})")


class MLflowPredictor:
    """An MLflow model loaded with ``mlflow.pyfunc``, fed rows or records.

    The model's input signature decides the input: named columns give a
    DataFrame in signature order; a tensor signature gives an array of its dtype.
    """

    def __init__(self, path: str) -> None:
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        self.model = mlflow.pyfunc.load_model(path)
        self.rejected: type[Exception] = MlflowException
        schema = self.model.metadata.get_input_schema()
        self.columns: list[str] | None = None
        self.dtype: Any = None
        self.width: int | None = None
        if schema is not None and schema.is_tensor_spec():
            self.dtype = schema.numpy_types()[0]
            shape = schema.inputs[0].shape
            self.width = shape[1] if len(shape) == 2 and shape[1] > 0 else None
        elif schema is not None and schema.has_input_names():
            self.columns = list(schema.input_names())
        elif "pytorch" in self.model.metadata.flavors:
            self.dtype = "float32"  # torch weights are float32; float64 input would fail

    def predict(self, data: list[Any]) -> list[Any]:
        """Predict ``data`` (rows or records); a JSON-ready list."""
        model_input = self.to_input(data)
        try:
            result = self.model.predict(model_input)
        except self.rejected as exc:  # schema enforcement: the input does not fit the signature
            raise InputError(f"the input does not fit the model's signature: {exc}") from exc
        return to_json(result)

    def to_input(self, data: list[Any]) -> Any:
        """Rows or records as the model's input (DataFrame or array)."""
        _check_shape(data)
        if isinstance(data[0], dict):
            return self._from_records(data)
        return self._from_rows(data)

    def _from_records(self, records: list[dict[str, Any]]) -> Any:
        import pandas as pd

        frame = pd.DataFrame.from_records(records)
        if self.columns is not None:
            missing = [c for c in self.columns if c not in frame.columns]
            if missing:
                raise InputError(
                    f"records lack the model's columns {missing} (expected {self.columns})"
                )
            frame = frame[self.columns]
        if self.dtype is not None:
            return self._array(frame.to_numpy())
        return frame

    def _from_rows(self, rows: list[list[Any]]) -> Any:
        import pandas as pd

        if self.columns is not None:
            bad = next((r for r in rows if len(r) != len(self.columns)), None)
            if bad is not None:
                raise InputError(
                    f"each row needs {len(self.columns)} values "
                    f"({', '.join(self.columns)}); got {len(bad)}"
                )
            return pd.DataFrame(rows, columns=self.columns)
        return self._array(rows)

    def _array(self, values: Any) -> Any:
        array = _as_array(values, self.dtype)
        if self.width is not None and array.shape[1] != self.width:
            raise InputError(f"each row needs {self.width} values; got {array.shape[1]}")
        return array


class UserPredictor:
    """A user class ``package.module:Class`` with ``__init__(path)`` and ``predict(data)``.

    ``predict`` receives the request's ``data`` unchanged (rows or records).
    """

    def __init__(self, path: str, spec: str) -> None:
        module_name, _, class_name = spec.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        self.impl = cls(path)

    def predict(self, data: list[Any]) -> list[Any]:
        """Hand ``data`` to the user's ``predict``; a JSON-ready list."""
        _check_shape(data)
        return to_json(self.impl.predict(data))


def _check_shape(data: list[Any]) -> None:
    if not data:
        raise InputError("'data' is empty: send at least one row or record")
    first = type(data[0])
    if first not in (list, dict) or any(type(item) is not first for item in data):
        raise InputError("'data' must be all rows (lists of values) or all records (objects)")


def _as_array(values: Any, dtype: Any) -> Any:
    import numpy as np

    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"rows must be equally long lists of numbers: {exc}") from exc
    if array.ndim != 2:
        raise InputError(
            f"rows must be equally long lists of values; got an array of shape {array.shape}"
        )
    return array


def to_json(result: Any) -> list[Any]:
    """A model's output (array, DataFrame, Series, tensor, list) as a JSON-ready list."""
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # DataFrame
        if len(result.columns) == 1:
            return list(result.iloc[:, 0].tolist())
        return list(result.to_dict(orient="records"))
    if hasattr(result, "detach"):  # torch tensor
        result = result.detach().cpu().numpy()
    if hasattr(result, "tolist"):  # numpy array, pandas Series
        return list(result.tolist())
    if isinstance(result, list | tuple):
        return [v.tolist() if hasattr(v, "tolist") else v for v in result]
    raise TypeError(
        f"the model returned {type(result).__name__}, which is not a list of predictions"
    )
