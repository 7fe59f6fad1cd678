"""Folder kinds, base-model lookup, path resolution and request checks (no MLX needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.errors import InvalidInputError, NotFoundError
from mlops.serving import generation
from mlops.serving.generation_runtime import InputError, check_request, prompts_from


def _files(folder: Path, *names: str, config: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("{}")
    if config is not None:
        (folder / "adapter_config.json").write_text(json.dumps(config))
    return folder


def test_folder_kinds_come_from_the_files(tmp_path: Path) -> None:
    kinds = {
        "mlflow": _files(tmp_path / "a", "MLmodel", "model.pkl"),
        "mlx-lm-adapter": _files(tmp_path / "b", "adapter_config.json", "adapters.safetensors"),
        "peft-adapter": _files(tmp_path / "c", "adapter_config.json", "adapter_model.safetensors"),
        "mlx-model": _files(tmp_path / "d", "config.json", "model.safetensors", "tokenizer.json"),
    }
    for kind, folder in kinds.items():
        assert generation.detect_folder_kind(folder) == kind
    assert generation.detect_folder_kind(_files(tmp_path / "e", "adapter_config.json")) is None
    assert generation.detect_folder_kind(_files(tmp_path / "f", "weights.bin")) is None
    assert generation.detect_folder_kind(tmp_path / "missing") is None


def test_relative_paths_fall_back_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    _files(workspace / "outputs" / "final", "adapters.safetensors")
    monkeypatch.chdir(tmp_path)
    found = generation.local_folder("outputs/final", workspace)
    assert found == (workspace / "outputs" / "final").resolve()
    _files(tmp_path / "outputs" / "final", "x")  # the current directory wins when it has it
    assert generation.local_folder("outputs/final", workspace) == tmp_path / "outputs" / "final"


def test_base_model_found_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = _files(tmp_path / "models" / "base", "config.json")
    adapter = _files(
        tmp_path / "run" / "adapter", "adapters.safetensors", config={"model": "models/base"}
    )
    assert generation.resolve_base_model(adapter, "mlx-lm-adapter") == str(base)
    monkeypatch.chdir(adapter)  # relative to the adapter's parents as well
    assert generation.resolve_base_model(adapter, "mlx-lm-adapter") == str(base)
    missing = _files(
        tmp_path / "p",
        "adapter_model.safetensors",
        config={"base_model_name_or_path": "org/absent-model"},
    )
    with pytest.raises(NotFoundError, match="base model 'org/absent-model'") as info:
        generation.resolve_base_model(missing, "peft-adapter")
    assert "hf download org/absent-model" in str(info.value.hint)
    unnamed = _files(tmp_path / "u", "adapters.safetensors", config={})
    with pytest.raises(InvalidInputError, match="does not name its base model"):
        generation.resolve_base_model(unnamed, "mlx-lm-adapter")


def test_request_checks() -> None:
    assert check_request(None, "hi", 8, 0) == (["hi"], 8, 0.0)
    assert check_request(["a", "b"], None, 1, 0.7) == (["a", "b"], 1, 0.7)
    for prompts, prompt, max_tokens, temperature in [
        (None, None, 8, 0.0),
        (["a"], "b", 8, 0.0),
        ([], None, 8, 0.0),
        (["a", 3], None, 8, 0.0),
        (["a"], None, 0, 0.0),
        (["a"], None, True, 0.0),
        (["a"], None, 8, -0.1),
        (["a"], None, 8, float("nan")),
    ]:
        with pytest.raises(InputError):
            check_request(prompts, prompt, max_tokens, temperature)  # type: ignore[arg-type]


def test_prompts_from_model_inputs() -> None:
    import pandas as pd

    assert prompts_from(["a", "b"]) == ["a", "b"]
    assert prompts_from("a") == ["a"]
    assert prompts_from(pd.DataFrame({"x": [1], "prompt": ["p"]})) == ["p"]
    assert prompts_from(pd.DataFrame({0: ["q"]})) == ["q"]
    assert prompts_from(pd.Series(["s"])) == ["s"]


def test_generation_api_description() -> None:
    api = generation.api_description()
    assert api["route"] == "/generate" and api["method"] == "POST"
    assert set(api["input"]["properties"]) == {"prompts", "prompt", "max_tokens", "temperature"}
