"""An adapter logged as an MLflow model generates with base + adapter through mlx-lm."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pytest

from mlops.client import MLOpsClient
from mlops.errors import ComponentUnavailableError, InvalidInputError
from mlops.integrations.mlx_adapter import log_adapter
from mlops.tags import ADAPTER_DIGEST_TAG
from tests.conftest import uninstall
from tests.mlx.conftest import PROMPTS, mlx_greedy

pytestmark = pytest.mark.integration


@contextmanager
def on_store(client: MLOpsClient) -> Iterator[None]:
    """MLflow's process-wide URIs on the project's store, as a user sets them; all restored
    afterwards (MLflow also exports them to the environment, where they would leak)."""
    import os

    from mlflow.tracking._model_registry import utils as registry

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_env = {name: os.environ.get(name) for name in names}
    saved = mlflow.get_tracking_uri(), registry._registry_uri
    mlflow.set_tracking_uri(client.settings.tracking_uri)
    mlflow.set_registry_uri(client.settings.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved[0])
        registry._registry_uri = saved[1]
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_with_mlflow(client: MLOpsClient, uri: str) -> Any:
    """``mlflow.pyfunc.load_model`` as a user calls it, on the project's store."""
    with on_store(client):
        return mlflow.pyfunc.load_model(uri)


def download(client: MLOpsClient, uri: str, dst: Path) -> Path:
    """The logged model's files, fetched with MLflow's own API."""
    import mlflow.artifacts

    with on_store(client):
        return Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(dst)))


def test_logged_adapter_predicts_like_mlx_lm(
    client: MLOpsClient, tiny_base: Path, cli_adapter: Path
) -> None:
    with client.start_run(run_name="log-adapter") as run:
        info = log_adapter(client, cli_adapter, registered_model_name="tiny-lora")
    assert info.registered_model_version == 1
    model = load_with_mlflow(client, info.model_uri)  # MLflow's own loader
    expected = mlx_greedy(tiny_base, cli_adapter, PROMPTS, 12)
    assert model.predict(PROMPTS, params={"max_tokens": 12}) == expected
    # The base model is referenced, not copied.
    meta = model.metadata.metadata
    assert meta == {
        "mlops_kind": "mlx-lm-adapter",
        "base_model": str(tiny_base),
        "base_copied": False,
    }
    local = download(client, info.model_uri, client.get_workspace_path("dl"))
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
    local = download(client, info.model_uri, client.get_workspace_path("dl2"))
    assert (local / "artifacts" / "base" / "model.safetensors").is_file()
    model = client.load_model(info.model_uri)
    assert model.predict(PROMPTS[:1], params={"max_tokens": 5}) == mlx_greedy(
        tiny_base, cli_adapter, PROMPTS[:1], 5
    )


def test_without_the_mlx_extra_log_adapter_says_how_to_install(
    client: MLOpsClient, cli_adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.start_run() as run, monkeypatch.context() as patched:
        uninstall(patched, "mlx_lm")
        with pytest.raises(ComponentUnavailableError) as info:
            log_adapter(client, cli_adapter)
    assert (info.value.component, info.value.operation) == ("mlx", "log_adapter")
    assert info.value.hint == 'pip install "mlops[mlx]"  (or: uv sync --extra mlx)'
    stored = client.mlflow_client.get_run(run.info.run_id)
    assert ADAPTER_DIGEST_TAG not in stored.data.tags  # rejected before anything was written
    assert client.mlflow_client.search_logged_models([run.info.experiment_id]) == []
