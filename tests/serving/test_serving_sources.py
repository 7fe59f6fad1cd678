"""Model URI parsing, tag validation and predictor checks (no tool needed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.errors import InvalidInputError, NotFoundError
from mlops.serving import sources


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("runs:/abc/model", {"scheme": "runs", "run_id": "abc", "path": "model"}),
        ("runs:/abc/nested/model", {"scheme": "runs", "run_id": "abc", "path": "nested/model"}),
        ("models:/iris/3", {"scheme": "models", "name": "iris", "version": "3"}),
        ("models:/iris@champion", {"scheme": "models", "name": "iris", "alias": "champion"}),
        ("models:/m-0123abc", {"scheme": "models", "model_id": "m-0123abc"}),
    ],
)
def test_parse_model_uri(uri: str, parts: dict[str, str]) -> None:
    assert sources.parse_model_uri(uri) == parts
    assert sources.is_mlflow_uri(uri)


@pytest.mark.parametrize(
    "uri", ["runs:/only-run", "models:/", "models:/iris", "s3://b/k", "runs:/"]
)
def test_unreadable_uris_are_rejected_with_the_accepted_forms(uri: str) -> None:
    with pytest.raises(InvalidInputError, match="cannot read the model URI") as info:
        sources.parse_model_uri(uri)
    assert "models:/<name>/<version>" in (info.value.hint or "")


def test_tag_parts() -> None:
    assert sources.validate_tag_part("iris-clf.v2_1", "model_name") == "iris-clf.v2_1"
    assert sources.validate_tag_part(None, "model_version") is None
    for bad in ("Iris", "iris clf", "-iris", "iris-", "x" * 64, ""):
        with pytest.raises(InvalidInputError, match="not a valid BentoML tag part"):
            sources.validate_tag_part(bad, "model_name")
    with pytest.raises(InvalidInputError) as info:
        sources.validate_tag_part("My Model", "model_name")
    assert "'my-model'" in (info.value.hint or "")


@pytest.fixture
def predictor_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    code = tmp_path / "code"
    (code / "pkg_pred").mkdir(parents=True)
    (code / "pkg_pred" / "__init__.py").write_text("")
    (code / "pkg_pred" / "impl.py").write_text(
        "class Good:\n    def __init__(self, path): self.path = path\n"
        "    def predict(self, data): return [len(data)]\n"
        "class NoPredict:\n    pass\n"
    )
    (code / "single_pred.py").write_text("class P:\n    def predict(self, data): return data\n")
    monkeypatch.syspath_prepend(str(code))
    yield code
    for name in ("pkg_pred", "pkg_pred.impl", "single_pred"):
        sys.modules.pop(name, None)


def test_check_predictor(tmp_path: Path, predictor_module: Path) -> None:
    assert sources.check_predictor(tmp_path, "pkg_pred.impl:Good") == "pkg_pred.impl:Good"
    with pytest.raises(InvalidInputError, match="needs a predictor"):
        sources.check_predictor(tmp_path, None)
    with pytest.raises(InvalidInputError, match=r"is not 'package\.module:Class'"):
        sources.check_predictor(tmp_path, "pkg_pred.impl.Good")
    with pytest.raises(InvalidInputError, match="cannot import predictor"):
        sources.check_predictor(tmp_path, "pkg_pred.impl:Missing")
    with pytest.raises(InvalidInputError, match="no predict"):
        sources.check_predictor(tmp_path, "pkg_pred.impl:NoPredict")
    with pytest.raises(NotFoundError, match="neither an MLflow model URI nor an existing folder"):
        sources.check_predictor(tmp_path / "missing", "pkg_pred.impl:Good")


def test_predictor_extras_copy_local_code_only(predictor_module: Path) -> None:
    assert sources.predictor_extras("pkg_pred.impl:Good") == {
        "pkg_pred": predictor_module / "pkg_pred"
    }
    assert sources.predictor_extras("single_pred:P") == {
        "single_pred.py": predictor_module / "single_pred.py"
    }
    assert sources.predictor_extras("numpy.random:Generator") == {}
    with pytest.raises(InvalidInputError, match="cannot import predictor"):
        sources.predictor_extras("no_such_pkg_xyz.mod:P")
