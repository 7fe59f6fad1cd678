"""An adapter logged as an MLflow model generates with base + adapter through mlx-lm."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.integrations.mlx_adapter import log_adapter
from mlops.tags import ADAPTER_DIGEST_TAG
from tests.mlx.conftest import PROMPTS, mlx_greedy

pytestmark = pytest.mark.integration


def test_logged_adapter_predicts_like_mlx_lm(
    client: MLOpsClient, tiny_base: Path, cli_adapter: Path
) -> None:
    with client.start_run(run_name="log-adapter") as run:
        info = log_adapter(client, cli_adapter, registered_model_name="tiny-lora")
    assert info.registered_model_version == 1
    with client.tracker.global_uris():  # MLflow's own loader, on this project's store
        model = mlflow.pyfunc.load_model(info.model_uri)
    expected = mlx_greedy(tiny_base, cli_adapter, PROMPTS, 12)
    assert model.predict(PROMPTS, params={"max_tokens": 12}) == expected
    # The base model is referenced, not copied.
    meta = model.metadata.metadata
    assert meta == {
        "mlops_kind": "mlx-lm-adapter",
        "base_model": str(tiny_base),
        "base_copied": False,
    }
    local = Path(client.tracker.download_model(info.model_uri, client.get_workspace_path("dl")))
    assert not list(local.rglob("model.safetensors"))
    assert (local / "artifacts" / "adapter" / "adapters.safetensors").is_file()
    assert (local / "code" / "mlops_adapter_pyfunc.py").is_file()
    tags = client.mlflow_client.get_run(run.info.run_id).data.tags
    assert len(tags[ADAPTER_DIGEST_TAG]) == 16


def test_copy_base_and_bad_folders(client: MLOpsClient, tiny_base: Path, cli_adapter: Path) -> None:
    with client.start_run():
        info = log_adapter(client, cli_adapter, name="with-base", copy_base=True)
        with pytest.raises(InvalidInputError, match="not an mlx-lm adapter folder"):
            log_adapter(client, tiny_base)
    local = Path(client.tracker.download_model(info.model_uri, client.get_workspace_path("dl2")))
    assert (local / "artifacts" / "base" / "model.safetensors").is_file()
    model = client.load_model(info.model_uri)
    assert model.predict(PROMPTS[:1], params={"max_tokens": 5}) == mlx_greedy(
        tiny_base, cli_adapter, PROMPTS[:1], 5
    )
