"""A full MLX/Hugging Face model folder (config.json + safetensors + tokenizer) deploys and
serves with the spec's call form; served greedy completions equal `mlx_lm.generate`'s."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from tests.mlx.conftest import PROMPTS, mlx_greedy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_model_folder_serves_like_mlx_lm(
    tmp_path: Path, tiny_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    client = MLOpsClient.from_project("tiny-model", repo_root=root)
    try:
        shutil.copytree(tiny_base, client.get_workspace_path("outputs/models") / "tiny-llama")
        monkeypatch.chdir(root)  # the relative path resolves in the project workspace
        result = client.deploy_model(
            model_path="outputs/models/tiny-llama", model_name="tiny_base", model_version="v1.0"
        )
        assert result["model_tag"] == "tiny_base:v1.0"
        assert result["api"]["route"] == "/generate"
        assert result["labels"]["model_kind"] == "mlx-model"
        assert "base_model" not in client.bento_store.get(result["bento_tag"]).info.labels
        with client.serve(result["bento_tag"]) as server:
            answer = server.generate(PROMPTS, max_tokens=12)
        assert answer["completions"] == mlx_greedy(tiny_base, None, PROMPTS, 12)
        assert all(0 < n <= 12 for n in answer["completion_tokens"])
    finally:
        client.close()
