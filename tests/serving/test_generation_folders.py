"""Folder kinds, base-model lookup, path resolution and request checks (no MLX needed)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
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


def _fake_hub_cache(cache: Path, repo_id: str, snapshot: bool = True) -> None:
    """The Hugging Face cache's own layout: models--org--name/{refs/main, snapshots/<rev>/}."""
    revision = hashlib.sha1(repo_id.encode()).hexdigest()
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    if snapshot:
        _files(repo / "snapshots" / revision, "config.json", "model.safetensors", "tokenizer.json")


_LOOKUP = """
import json, sys
from pathlib import Path
from mlops.errors import NotFoundError
from mlops.serving.generation import find_model, resolve_base_model

out = {ref: find_model(ref) for ref in ("org/tiny-llama", "org/no-snapshot", "org/absent")}
out["resolved"] = resolve_base_model(Path(sys.argv[1]), "peft-adapter")
try:
    resolve_base_model(Path(sys.argv[2]), "mlx-lm-adapter")
except NotFoundError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.parametrize("variable", ["HF_HUB_CACHE", "HF_HOME"])
def test_hub_id_in_the_local_cache_is_found(tmp_path: Path, variable: str) -> None:
    """A hub id is found in a Hugging Face cache laid out as the hub writes it, offline.

    huggingface_hub reads its cache location once, at import: the lookup runs in a
    fresh interpreter whose environment points at the fake cache, as a user's would.
    """
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    home = tmp_path / "hf"
    cache = home / "hub" if variable == "HF_HOME" else home
    _fake_hub_cache(cache, "org/tiny-llama")
    _fake_hub_cache(cache, "org/no-snapshot", snapshot=False)
    peft = _files(
        tmp_path / "peft",
        "adapter_model.safetensors",
        config={"base_model_name_or_path": "org/tiny-llama"},
    )
    absent = _files(tmp_path / "mlx", "adapters.safetensors", config={"model": "org/absent"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env[variable] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", _LOOKUP, str(peft), str(absent)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["org/tiny-llama"] == "org/tiny-llama"  # referenced by its hub id
    assert out["org/no-snapshot"] is None and out["org/absent"] is None
    assert out["resolved"] == "org/tiny-llama"
    assert "base model 'org/absent'" in out["error"]


def test_route_of_stored_items() -> None:
    assert generation.route_of({"labels": {"model_kind": "mlx-lm-adapter"}}) == "/generate"
    assert generation.route_of({"labels": {}, "metadata": {"kind": "mlx-model"}}) == "/generate"
    assert generation.route_of({"labels": {"project": "p"}}) == "/predict"
    assert generation.route_of({"labels": {}, "metadata": {"kind": "mlflow"}}) == "/predict"
