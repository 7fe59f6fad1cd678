"""The tools' own objects, bound to the project's configuration (the seed's component clients)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.client import MLOpsClient

pytestmark = pytest.mark.integration


def test_each_escape_hatch_is_the_tools_own_object_for_this_project(repo: Path) -> None:
    from bentoml._internal.bento import BentoStore
    from dvc.repo import Repo
    from evidently.ui.workspace import Workspace
    from mlflow import MlflowClient

    client = MLOpsClient.from_project("hatch", repo_root=repo)
    try:
        assert isinstance(client.mlflow_client, MlflowClient)
        assert client.mlflow_client.tracking_uri == client.settings.tracking_uri
        with client.dvc_repo() as dvc:
            assert isinstance(dvc, Repo) and Path(dvc.root_dir) == repo
            assert dvc.config["core"]["remote"] == "mlops-hatch"  # the project's remote
        store = client.bento_store
        assert isinstance(store, BentoStore)
        assert Path(store._path).resolve() == (client.settings.bentoml_home / "bentos").resolve()
        workspace = client.evidently_workspace
        assert isinstance(workspace, Workspace)
        assert workspace.search_project("nothing-yet") == []
        assert client.settings.monitoring_workspace.is_dir()
    finally:
        client.close()
