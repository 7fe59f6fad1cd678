"""What every CLI command shares: the console, the project option, client creation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project", "-p", help="Project name (default: $MLOPS_PROJECT or the folder name)."
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option("--repo-root", help="Repository root holding .mlops/ (default: found)."),
]


def default_project() -> str:
    """``$MLOPS_PROJECT``, else the current folder's name."""
    return os.environ.get("MLOPS_PROJECT") or Path.cwd().name


def get_client(project: str | None, repo_root: Path | None = None, **overrides: Any) -> MLOpsClient:
    """The client of ``project`` (or the default project); ``overrides`` as in ``from_project``."""
    from mlops.client import MLOpsClient

    return MLOpsClient.from_project(project or default_project(), repo_root=repo_root, **overrides)
