"""Adapters logged to MLflow deploy by URI or folder; their recorded base model is checked.

Real mlx-lm training (its own command line), real MLflow, real BentoML serving over HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from mlops.errors import NotFoundError
from mlops.integrations.mlx_adapter import log_adapter
from tests.mlx.conftest import PROMPTS, mlx_greedy
from tests.mlx.test_adapter_model import download

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLOpsClient]:
    root = tmp_path_factory.mktemp("logged-adapters")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    client = MLOpsClient.from_project("lora-finetuning-mlx", repo_root=root)
    yield client
    client.close()


def test_registered_adapter_serves_like_mlx_lm(
    project: MLOpsClient, tiny_base: Path, cli_adapter: Path
) -> None:
    """`models:/lora_adapter/1`, the natural step after `mlops lora train`, serves greedy
    completions equal to `mlx_lm.generate` on base + adapter, with the run's lineage."""
    with project.start_run(run_name="lora") as run:
        info = log_adapter(project, cli_adapter, registered_model_name="lora_adapter")
    result = project.deploy_model("models:/lora_adapter/1", "lora_adapter", "v1")
    labels = result["labels"]
    assert result["api"]["route"] == "/generate"
    assert labels["run_id"] == run.info.run_id and labels["model_id"] == info.model_id
    assert (labels["registered_model"], labels["registered_version"]) == ("lora_adapter", "1")
    assert labels["model_kind"] == "mlx-lm-adapter" and labels["base_model"] == str(tiny_base)
    stored = project.bento_store.get(result["bento_tag"]).info.labels
    assert stored["model_kind"] == "mlx-lm-adapter" and stored["run_id"] == run.info.run_id
    assert project.api_route(result["bento_tag"]) == "/generate"
    with project.serve(result["bento_tag"]) as server:
        answer = server.generate(PROMPTS, max_tokens=12)
    assert answer["completions"] == mlx_greedy(tiny_base, cli_adapter, PROMPTS, 12)


def _adapter_on_a_copied_base(cli_adapter: Path, tiny_base: Path, where: Path) -> Path:
    """The CLI adapter, its adapter_config.json naming a copy of the base at ``where``."""
    shutil.copytree(tiny_base, where / "base")
    adapter = shutil.copytree(cli_adapter, where / "adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["model"] = str(where / "base")
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    return adapter


def test_logged_adapter_whose_base_is_gone_fails_before_writing(
    project: MLOpsClient, tiny_base: Path, cli_adapter: Path, tmp_path: Path
) -> None:
    adapter = _adapter_on_a_copied_base(cli_adapter, tiny_base, tmp_path)
    with project.start_run(run_name="orphan") as run:
        info = log_adapter(project, adapter, registered_model_name="orphan")
    folder = download(project, info.model_uri, tmp_path / "downloaded")
    shutil.rmtree(tmp_path / "base")  # the base model the adapter recorded is removed
    home = project.settings.bentoml_home
    for uri in ("models:/orphan/1", f"runs:/{run.info.run_id}/adapter", str(folder)):
        with pytest.raises(NotFoundError, match=f"base model '{tmp_path / 'base'}'") as err:
            project.deploy_model(uri, "orphan")
        assert err.value.component == "serving" and err.value.operation == "deploy_model"
        assert "copy_base=True" in str(err.value.hint)
        assert uri in str(err.value)
    assert not (home / "models" / "orphan").exists() and not (home / "bentos" / "orphan").exists()
    assert not list(project.get_workspace_path("serving/tmp").iterdir())  # downloads removed
