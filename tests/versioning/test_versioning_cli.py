"""`mlops data ...` on a real git repository with real DVC and the embedded MLflow store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops.cli import app

pytestmark = pytest.mark.integration


def _run(repo: Path, *args: str) -> Any:
    argv = ["data", *args, "--project", "test-project", "--repo-root", str(repo), "--json"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_add_push_pull_status_and_lineage_from_the_command_line(
    repo: Path,
) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("a,b\n1,2\n")
    version = _run(repo, "add", "data/x.csv")
    assert version["dvc_file"] == "data/x.csv.dvc" and len(version["md5"]) == 32
    assert _run(repo, "status")["new"] == 1
    assert _run(repo, "push", "data/x.csv")["pushed"] == 1
    (repo / "data" / "x.csv").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    assert _run(repo, "pull", "data/x.csv")["fetched"] == 1
    assert (repo / "data" / "x.csv").read_text() == "a,b\n1,2\n"

    from mlops.client import MLOpsClient

    client = MLOpsClient.from_project("test-project", repo_root=repo)
    with client.start_run() as run:
        client.dvc_add("data/x.csv")
    client.close(timeout=10)
    run_id = run.info.run_id
    (lineage,) = _run(repo, "lineage", run_id)
    assert lineage["md5"] == version["md5"]
    (repo / "data" / "x.csv").write_text("changed\n")
    (row,) = _run(repo, "status", "--run", run_id)
    assert row["changed"] and row["workspace_modified"]


def test_errors_print_one_line_and_exit_1(repo: Path) -> None:
    argv = ["data", "add", "missing.csv", "--project", "test-project", "--repo-root", str(repo)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1
    assert "missing.csv does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
