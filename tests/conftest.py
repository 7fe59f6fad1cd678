"""Shared fixtures: a fresh repository per test, and clients on real stores."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "hardware" / "data"  # real captures; nothing outside the repo


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's MLOPS_* settings."""
    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh git repository, made the working directory."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "t@example.com"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "t"], check=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def client(repo: Path) -> Iterator[object]:
    """A client of project ``test-project`` on the embedded sqlite store of ``repo``."""
    from mlops.client import MLOpsClient

    c = MLOpsClient.from_project("test-project", repo_root=repo)
    yield c
    c.close(timeout=10)


def uninstall(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` look not installed for this test (find_spec returns None)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
