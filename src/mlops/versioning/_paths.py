"""Path checks for data versioning: pure logic, run before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

from mlops.errors import InvalidInputError, NotFoundError
from mlops.invocation import mlops_command

__all__ = ["files_under", "reject_if_git_tracked", "relative", "resolve_target", "resolve_tracked"]

# Folders mlops, DVC and git own: never data.
_RESERVED = {".git", ".dvc", ".mlops"}


def absolute(root: Path, path: str | Path) -> Path:
    """``path`` made absolute: relative paths start at the working directory when it
    is inside ``root`` (as with the ``dvc`` command), else at ``root``.

    Symlinks are not resolved, so a link inside the repository stays inside.
    """
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        cwd = Path.cwd()
        base = cwd if _is_within(cwd.resolve(), root) else root
        candidate = base / candidate
    return Path(os.path.normpath(candidate))


def relative(root: Path, path: str | Path) -> Path:
    """``path`` relative to ``root`` (absolute input, or relative as :func:`absolute` reads it)."""
    full = absolute(root, path)
    try:
        return full.relative_to(root)
    except ValueError:
        return Path(os.path.relpath(full.resolve(), root))


def resolve_target(root: Path, path: str | Path, operation: str) -> Path:
    """Check that ``path`` can be tracked: it exists, lies inside ``root`` and is data.

    Raises:
        NotFoundError: ``path`` does not exist.
        InvalidInputError: outside the repository, the repository itself, or
            inside ``.git``, ``.dvc`` or ``.mlops``, or a ``.dvc`` file.
    """
    full = absolute(root, path)
    if not _is_within(full, root) and not _is_within(full.resolve(), root):
        raise _invalid(
            f"{path} is outside the repository {root}",
            operation,
            "copy or move the data inside the repository first",
        )
    if not full.exists():
        raise NotFoundError(
            f"{path} does not exist",
            component="versioning",
            operation=operation,
            hint="check the path (relative paths start at the working directory)",
        )
    rel = full.relative_to(root) if _is_within(full, root) else full.resolve().relative_to(root)
    if not rel.parts or rel.parts[0] in _RESERVED or full.suffix == ".dvc":
        raise _invalid(
            f"{path} is not data mlops can track",
            operation,
            "pass a data file or folder, not the repository, .git, .dvc, .mlops or a .dvc file",
        )
    return root / rel


def resolve_tracked(root: Path, path: str | Path, operation: str) -> Path:
    """A target for push/pull/status: ``path`` itself, or its ``.dvc`` file when present."""
    full = absolute(root, path)
    if not _is_within(full, root):
        raise _invalid(
            f"{path} is outside the repository {root}",
            operation,
            "pass paths inside the repository",
        )
    dvc_file = Path(f"{full}.dvc")
    if full.suffix != ".dvc" and dvc_file.is_file():
        return dvc_file
    if full.exists():
        return full
    if _under_tracked_folder(root, full):
        return full  # a file inside a tracked folder: DVC resolves it granularly
    raise NotFoundError(
        f"{path} is not tracked by DVC (no {dvc_file.name} found)",
        component="versioning",
        operation=operation,
        hint=f"track it first with `{mlops_command('data', 'add', '<path>')}`",
    )


def files_under(folder: Path) -> list[Path]:
    """Every data file under ``folder`` (skipping ``.dvc`` files and ``.gitignore``), sorted."""
    if not folder.is_dir():
        return [folder]
    found = [
        Path(dirpath) / name
        for dirpath, _, names in os.walk(folder)
        for name in names
        if not name.endswith(".dvc") and name != ".gitignore"
    ]
    return sorted(found)


def reject_if_git_tracked(tracked: bool, root: Path, target: Path) -> None:
    """Raise when git already tracks ``target``: DVC would otherwise fail half-way."""
    if tracked:
        rel = target.relative_to(root).as_posix()
        raise InvalidInputError(
            f"{rel} is already tracked by git; DVC cannot also track it",
            component="versioning",
            operation="dvc_add",
            hint=f"stop tracking it in git first: git rm -r --cached {rel} && git commit",
        )


def _under_tracked_folder(root: Path, full: Path) -> bool:
    return any(
        Path(f"{parent}.dvc").is_file() for parent in full.parents if _is_within(parent, root)
    )


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _invalid(message: str, operation: str, hint: str) -> InvalidInputError:
    return InvalidInputError(message, component="versioning", operation=operation, hint=hint)
