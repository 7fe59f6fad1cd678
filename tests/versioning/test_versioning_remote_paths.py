"""Pure logic of data versioning: the project's remote and path checks (no DVC)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.config import load_settings
from mlops.errors import InvalidInputError, NotFoundError
from mlops.versioning import _paths
from mlops.versioning.remote import CREDENTIAL_KEYS, remote_spec


def test_default_remote_is_a_local_folder_with_a_project_prefix(tmp_path: Path) -> None:
    spec = remote_spec(load_settings("alpha", repo_root=tmp_path))
    assert spec.name == "mlops-alpha"
    assert spec.url == str(tmp_path.resolve() / ".mlops" / "dvc-remote" / "alpha")
    assert spec.is_local and not spec.is_s3
    assert spec.committed_config() == {"url": spec.url}
    assert spec.runtime_config() == {}


def test_two_projects_on_one_shared_remote_get_different_prefixes(tmp_path: Path) -> None:
    data = {"remote_url": "s3://team-bucket/dvc/", "endpoint_url": "http://127.0.0.1:9000"}
    a = remote_spec(load_settings("a", repo_root=tmp_path, overrides={"data": data}))
    b = remote_spec(load_settings("b", repo_root=tmp_path, overrides={"data": data}))
    assert (a.url, b.url) == ("s3://team-bucket/dvc/a", "s3://team-bucket/dvc/b")
    assert a.name != b.name


def test_s3_remote_commits_endpoint_and_region_but_never_credentials(tmp_path: Path) -> None:
    data = {
        "remote_url": "s3://b/p",
        "endpoint_url": "http://h:1",
        "region": "eu-west-1",
        "timeout": 2.4,
    }
    spec = remote_spec(load_settings("p", repo_root=tmp_path, overrides={"data": data}))
    committed = spec.committed_config()
    assert committed == {"url": "s3://b/p/p", "endpointurl": "http://h:1", "region": "eu-west-1"}
    assert not set(committed) & set(CREDENTIAL_KEYS)
    assert spec.runtime_config() == {"connect_timeout": 2, "read_timeout": 2}


def test_describe_redacts_a_password_in_the_endpoint(tmp_path: Path) -> None:
    data = {"remote_url": "s3://b", "endpoint_url": "http://alice:hunter2@minio:9000"}
    spec = remote_spec(load_settings("p", repo_root=tmp_path, overrides={"data": data}))
    text = spec.describe()
    assert "hunter2" not in text
    assert "mlops-p" in text and "minio:9000" in text


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "repo"
    (base / "data").mkdir(parents=True)
    (base / "data" / "x.csv").write_text("a,b\n")
    monkeypatch.chdir(base / "data")
    return base


def test_relative_paths_start_at_the_working_directory_inside_the_repo(root: Path) -> None:
    assert _paths.resolve_target(root, "x.csv", "dvc_add") == root / "data" / "x.csv"
    assert _paths.relative(root, "x.csv") == Path("data/x.csv")


@pytest.mark.parametrize("bad", ["../..", "..", "/", ".git", "../.mlops", "../x.dvc"])
def test_paths_that_are_not_data_are_rejected(root: Path, bad: str) -> None:
    (root / ".git").mkdir()
    (root / ".mlops").mkdir()
    (root / "x.dvc").write_text("outs: []\n")
    with pytest.raises(InvalidInputError) as info:
        _paths.resolve_target(root, bad, "dvc_add")
    assert info.value.hint


def test_missing_path_is_not_found(root: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.csv"):
        _paths.resolve_target(root, "nope.csv", "dvc_add")


def test_push_targets_map_to_their_dvc_files(root: Path) -> None:
    (root / "data" / "x.csv.dvc").write_text("outs: []\n")
    assert _paths.resolve_tracked(root, "x.csv", "dvc_push") == root / "data" / "x.csv.dvc"
    with pytest.raises(NotFoundError, match="mlops data add"):
        _paths.resolve_tracked(root, "untracked.bin", "dvc_push")


def test_files_under_skips_dvc_bookkeeping(root: Path) -> None:
    folder = root / "data"
    (folder / "sub").mkdir()
    (folder / "sub" / "y.bin").write_bytes(b"1")
    (folder / ".gitignore").write_text("/x.csv\n")
    (folder / "x.csv.dvc").write_text("outs: []\n")
    assert _paths.files_under(folder) == [folder / "sub" / "y.bin", folder / "x.csv"]


def test_git_tracked_paths_are_rejected_with_the_git_command(root: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        _paths.reject_if_git_tracked(True, root, root / "data" / "x.csv")
    assert "git rm -r --cached data/x.csv" in (info.value.hint or "")


def test_client_cli_and_helpers_load_without_importing_dvc(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from mlops.client import create_client\n"
        "import mlops.cli, mlops.versioning.remote, mlops.versioning.lineage\n"
        f"create_client('p', repo_root={str(tmp_path)!r})\n"
        "print(sorted(m for m in ('dvc', 'mlflow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
