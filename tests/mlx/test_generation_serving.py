"""deploy_model on folders without a predictor: the spec's call on an mlx-lm adapter; MLmodel.

Real mlx-lm training (its own command line), real BentoML serving over HTTP, real MLX on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError, NotFoundError
from tests.mlx.conftest import PROMPTS, mlx_greedy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lora_project(tmp_path_factory: pytest.TempPathFactory, cli_adapter: Path) -> Iterator[Any]:
    """A repository whose workspace holds the adapter at outputs/checkpoints/final."""
    root = tmp_path_factory.mktemp("lora-repo")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    client = MLOpsClient.from_project("lora-finetuning-mlx", repo_root=root)
    shutil.copytree(cli_adapter, client.get_workspace_path("outputs/checkpoints") / "final")
    cwd = Path.cwd()
    os.chdir(root)  # outputs/checkpoints/final is not here: it resolves in the workspace
    yield client
    os.chdir(cwd)
    client.close()


@pytest.fixture(scope="module")
def served(lora_project: MLOpsClient) -> Iterator[tuple[dict[str, Any], Any]]:
    """The spec's exact deploy call, served over HTTP."""
    result = lora_project.deploy_model(
        model_path="outputs/checkpoints/final", model_name="lora_adapter", model_version="v1.0"
    )
    with lora_project.serve(result["bento_tag"]) as server:
        yield result, server


def test_spec_call_serves_greedy_generation_like_mlx_lm(
    served: tuple[dict[str, Any], Any], tiny_base: Path, cli_adapter: Path
) -> None:
    result, server = served
    assert result["model_tag"] == "lora_adapter:v1.0"
    assert result["api"]["route"] == "/generate"
    labels = result["labels"]
    assert labels["model_kind"] == "mlx-lm-adapter" and labels["base_model"] == str(tiny_base)
    answer = server.generate(PROMPTS, max_tokens=12)  # temperature 0: greedy
    assert answer["completions"] == mlx_greedy(tiny_base, cli_adapter, PROMPTS, 12)
    assert len(answer["prompt_tokens"]) == len(PROMPTS)
    assert all(0 < n <= 12 for n in answer["completion_tokens"])
    assert answer["tokens_per_second"] > 0
    single = server.generate(PROMPTS[0], max_tokens=12)
    assert single["completions"] == answer["completions"][:1]
    # The adapter is folded into the float32 base (serving.fuse_adapters = "auto").
    assert psutil.Process(server.pid).environ()["MLOPS_SERVING_FUSE_ADAPTERS"] == "auto"


def test_bento_records_lineage(
    served: tuple[dict[str, Any], Any], lora_project: MLOpsClient
) -> None:
    result, _ = served
    labels = lora_project.bento_store.get(result["bento_tag"]).info.labels
    assert labels["project"] == "lora-finetuning-mlx"
    assert labels["source_uri"].endswith("outputs/checkpoints/final")
    assert labels["base_model"] == result["labels"]["base_model"]
    assert (Path(result["bento_path"]) / "src" / "mlops_generation_runtime.py").is_file()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompts": []}, "1 to 256 strings"),
        ({"prompts": ["a"], "prompt": "b"}, "exactly one of"),
        ({"prompt": "a", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "a", "temperature": -1}, "temperature"),
        ({"prompts": [""]}, "non-empty string"),
    ],
)
def test_bad_requests_are_answered_400(
    served: tuple[dict[str, Any], Any], body: dict[str, Any], message: str
) -> None:
    _, server = served
    status, payload = server.post("/generate", json.dumps(body).encode())
    assert status == 400 and message in payload.decode()
    assert server.running


def test_sampling_with_temperature(served: tuple[dict[str, Any], Any]) -> None:
    _, server = served
    answer = server.generate(PROMPTS[:2], max_tokens=6, temperature=1.0)
    assert len(answer["completions"]) == 2 and all(
        isinstance(c, str) for c in answer["completions"]
    )
    with pytest.raises(InvalidInputError, match="HTTP 400"):
        server.generate([], max_tokens=4)


def test_missing_base_model_is_one_clear_error(
    lora_project: MLOpsClient, cli_adapter: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(cli_adapter, broken)
    config = json.loads((broken / "adapter_config.json").read_text())
    config["model"] = "/nowhere/tiny-base"
    (broken / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(NotFoundError, match="base model '/nowhere/tiny-base'") as info:
        lora_project.deploy_model(broken, "broken")
    assert info.value.component == "serving" and "adapter_config.json" in str(info.value.hint)
    stored = lora_project.settings.bentoml_home / "models" / "broken"
    assert not stored.exists()  # nothing was written


def test_local_mlflow_model_folders(
    lora_project: MLOpsClient, tiny_base: Path, cli_adapter: Path
) -> None:
    """A folder with an MLmodel file deploys: tabular on /predict, a logged adapter on /generate."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from mlops.integrations.mlx_adapter import log_adapter

    tabular = lora_project.get_workspace_path("outputs") / "sk-model"
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]], [0, 1, 0, 1])
    mlflow.sklearn.save_model(model, str(tabular))
    result = lora_project.deploy_model("outputs/sk-model", "sk-folder")
    assert result["api"]["route"] == "/predict"
    with lora_project.serve(result["bento_tag"]) as server:
        assert server.predict([[0.0, 1.0], [1.0, 0.0]]) == [0, 1]

    with lora_project.start_run() as run:
        info = log_adapter(lora_project, cli_adapter)
    from tests.mlx.test_adapter_model import download

    folder = download(lora_project, info.model_uri, lora_project.get_workspace_path("m"))
    adapter = lora_project.deploy_model(folder, "adapter-folder", build_bento=False)
    assert adapter["api"]["route"] == "/generate"
    assert adapter["labels"]["run_id"] == run.info.run_id  # the MLmodel's run, in this store
    assert adapter["labels"]["model_kind"] == "mlx-lm-adapter"
    assert adapter["labels"]["base_model"] == str(tiny_base)
    with lora_project.serve(adapter["model_tag"]) as server:
        answer = server.generate(PROMPTS[:2], max_tokens=8)
    assert answer["completions"] == mlx_greedy(tiny_base, cli_adapter, PROMPTS[:2], 8)
