"""Per-project folders under ``<root>/.mlops/workspaces/<project>/``.

Standard sub-folders (made on first use): ``outputs``, ``models``, ``data``,
``monitoring``, ``reports``; the telemetry write-ahead log lives in ``wal``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from mlops.config import Settings
from mlops.errors import InvalidInputError

__all__ = ["MLOPS_DIR_NAME", "STANDARD_SUBDIRS", "Workspace", "make_dir", "read_json"]

STANDARD_SUBDIRS = ("outputs", "models", "data", "monitoring", "reports")
MLOPS_DIR_NAME = ".mlops"
_GITIGNORE = "# Made by mlops: local stores, caches and the write-ahead log never go into git.\n*\n"


def make_dir(path: Path) -> Path:
    """Make the folder ``path``; the ``.mlops`` folder above it, if any, ignores itself.

    Every folder the client writes under ``<root>/.mlops`` is made through here, so the
    first one also writes ``.mlops/.gitignore`` (``*``): ``git add -A`` never commits the
    local MLflow store, DVC remote or caches, whatever the repository's own .gitignore says.
    """
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.name == MLOPS_DIR_NAME:
            ignore = folder / ".gitignore"
            if not ignore.exists():
                folder.mkdir(parents=True, exist_ok=True)
                _write_new(ignore, _GITIGNORE)
            break
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` unless another process made it first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(text)


class Workspace:
    """The folder of one project.

    Example:
        >>> ws = Workspace(load_settings("demo", repo_root="/repo"))  # doctest: +SKIP
        >>> ws.path("outputs")                                         # doctest: +SKIP
        PosixPath('/repo/.mlops/workspaces/demo/outputs')
    """

    def __init__(self, settings: Settings) -> None:
        self.project = settings.project
        self.root = settings.workspace_dir

    def path(self, subdir: str | None = None, create: bool = True) -> Path:
        """Return the workspace folder, or ``subdir`` inside it, made if missing.

        ``subdir`` may be nested (``"outputs/checkpoints"``) but must stay inside
        the workspace: absolute paths and ``..`` are rejected.
        """
        target = self.root if subdir is None else self.root / _safe_relative(subdir)
        if create:
            make_dir(target)
        return target


def _safe_relative(subdir: str) -> Path:
    pure = PurePosixPath(str(subdir).replace("\\", "/"))
    if not str(subdir).strip() or pure.is_absolute() or ".." in pure.parts:
        raise InvalidInputError(
            f"workspace sub-folder {subdir!r} must be a relative path inside the workspace",
            component="workspace",
            operation="get_workspace_path",
            hint="pass a name such as 'outputs' or 'outputs/checkpoints'",
        )
    return Path(*pure.parts)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; empty when missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
