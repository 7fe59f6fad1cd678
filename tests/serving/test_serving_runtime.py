"""The runtime copied into every Bento: input checks and JSON conversion."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.serving import runtime


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "empty"),
        ([1, 2], "all rows"),
        ([[1, 2], {"a": 1}], "all rows"),
        (["a", "b"], "all rows"),
    ],
)
def test_bad_shapes_are_input_errors(data: list[object], says: str) -> None:
    with pytest.raises(runtime.InputError, match=says):
        runtime._check_shape(data)


def test_rows_become_arrays_of_the_signature_dtype() -> None:
    array = runtime._as_array([[1, 2], [3, 4]], "float32")
    assert array.dtype == np.float32 and array.shape == (2, 2)
    with pytest.raises(runtime.InputError, match="equally long"):
        runtime._as_array([[1, 2], [3]], "float64")
    with pytest.raises(runtime.InputError, match="lists of numbers"):
        runtime._as_array([["a", "b"]], "float64")


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (np.array([1, 2]), [1, 2]),
        (np.array([[0.5, 0.5]]), [[0.5, 0.5]]),
        (pd.Series([1.5, 2.5]), [1.5, 2.5]),
        (pd.DataFrame({"p": [1, 0]}), [1, 0]),
        (pd.DataFrame({"a": [1], "b": [2]}), [{"a": 1, "b": 2}]),
        ([np.int64(3), "x"], [3, "x"]),
        ((1, 2), [1, 2]),
    ],
)
def test_to_json(result: object, expected: list[object]) -> None:
    out = runtime.to_json(result)
    assert out == expected
    assert all(not isinstance(v, np.generic) for v in out)


def test_to_json_rejects_scalars() -> None:
    with pytest.raises(TypeError, match="not a list of predictions"):
        runtime.to_json(3.0)


def test_user_predictor_gets_the_data_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "echo_pred.py").write_text(
        "class Echo:\n    def __init__(self, path): self.path = path\n"
        "    def predict(self, data): return [self.path, data]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        predictor = runtime.load_predictor("predictor", "/models/x", "echo_pred:Echo")
        assert predictor.predict([{"a": 1}]) == ["/models/x", [{"a": 1}]]
        with pytest.raises(runtime.InputError):
            predictor.predict([])
    finally:
        sys.modules.pop("echo_pred", None)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        runtime.load_predictor("onnx", "/x", None)


def test_runtime_imports_only_the_standard_library() -> None:
    source = Path(runtime.__file__).read_text()
    top_imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert top_imports == [
        "from __future__ import annotations",
        "import importlib",
        "from typing import Any",
    ]
