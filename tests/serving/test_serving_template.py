"""The generated service source and its folder."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlops.errors import InvalidInputError
from mlops.serving import template
from mlops.serving.deploy import _columns, read_signature


def test_rendered_service_is_valid_python_naming_its_model() -> None:
    source = template.render_service(
        "iris:v1", kind="mlflow", predictor=None, service_name="iris", labels={"run_id": "abc"}
    )
    tree = ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == [template.SERVICE_CLASS]
    assert "MODEL_TAG = 'iris:v1'" in source and '"run_id": "abc"' in source
    assert "route='/predict'" in source


def test_module_names_are_unique_per_model_tag() -> None:
    a, b = template.module_name_for("iris:v1"), template.module_name_for("iris:v2")
    assert a != b and a == template.module_name_for("iris:v1") and a.isidentifier()
    # Same tag, other labels in the source: another module (Python caches by name).
    assert template.module_name_for("iris:v1", "LABELS = 1") != template.module_name_for(
        "iris:v1", "LABELS = 2"
    )


def test_write_service_writes_a_fresh_folder(tmp_path: Path) -> None:
    extra = tmp_path / "helper.py"
    extra.write_text("X = 1\n")
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "stale.py").write_text("")
    written = template.write_service(folder, "iris:v1", "# code\n", {"helper.py": extra})
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{written.module}.py", "mlops_serving_runtime.py", "helper.py"])
    assert written.import_str == f"{written.module}:MLOpsService"
    runtime_copy = (folder / "mlops_serving_runtime.py").read_text()
    assert runtime_copy == Path(template.__file__).with_name("runtime.py").read_text()


def test_api_description_names_columns() -> None:
    api = template.api_description(["a", "b"], None)
    assert api["route"] == "/predict" and api["method"] == "POST"
    row, record = api["input"]["properties"]["data"]["items"]["anyOf"]
    assert row["minItems"] == row["maxItems"] == 2
    assert record["required"] == ["a", "b"]


def test_read_signature(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(
        "signature:\n"
        '  inputs: \'[{"type": "double", "name": "a", "required": true}]\'\n'
        '  outputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]\'\n'
    )
    signature = read_signature(tmp_path)
    assert signature is not None and _columns(signature) == ["a"]
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert read_signature(tmp_path) is None and _columns(None) is None
    with pytest.raises(InvalidInputError, match="not an MLflow model"):
        read_signature(tmp_path / "nowhere")
