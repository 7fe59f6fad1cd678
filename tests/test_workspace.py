"""Per-project workspace folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError


def test_workspace_paths_made_on_demand(repo: Path) -> None:
    client = MLOpsClient.from_project("lora-finetuning-mlx", repo_root=repo)
    root = repo.resolve() / ".mlops" / "workspaces" / "lora-finetuning-mlx"
    assert not root.exists()  # creating a client writes nothing
    assert client.get_workspace_path() == root and root.is_dir()
    for sub in ("outputs", "models", "data", "monitoring", "reports", "outputs/checkpoints"):
        path = client.get_workspace_path(sub)
        assert path == root / sub and path.is_dir()


@pytest.mark.parametrize("sub", ["../other", "/etc", "a/../../b", "", "  "])
def test_workspace_rejects_escapes(repo: Path, sub: str) -> None:
    client = MLOpsClient.from_project("p", repo_root=repo)
    with pytest.raises(InvalidInputError, match="inside the workspace"):
        client.get_workspace_path(sub)


def test_project_name_checked_before_anything_is_written(repo: Path) -> None:
    with pytest.raises(InvalidInputError, match="invalid project name"):
        MLOpsClient.from_project("../x", repo_root=repo)
    assert not (repo / ".mlops").exists()


def test_the_first_folder_under_mlops_makes_it_ignore_itself(tmp_path: Path) -> None:
    from mlops.workspace import make_dir

    made = make_dir(tmp_path / ".mlops" / "workspaces" / "p" / "wal")
    assert made.is_dir()
    ignore = tmp_path / ".mlops" / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    ignore.write_text("*\n!keep\n")  # a user's edit is left alone
    make_dir(tmp_path / ".mlops" / "bentoml")
    assert ignore.read_text() == "*\n!keep\n"
    make_dir(tmp_path / "elsewhere")  # outside .mlops: just a folder
    assert not (tmp_path / ".gitignore").exists()
