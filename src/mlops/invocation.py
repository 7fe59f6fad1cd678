"""How to run a command of ours (or a tool's) so that it works exactly as we print it.

After ``uv run mlops demo`` the ``mlops`` script lives in the project's ``.venv``,
which is not on ``PATH``; after ``pip install`` into an active environment it is.
Every command ``mlops`` prints — the demo's next steps, error hints — goes
through :func:`shell_command`, which picks the form that runs in a fresh shell:

1. ``uv run --no-sync --project <dir> mlops ...`` when ``uv run`` started us from the
   ``.venv`` of a uv project (``<dir>`` holds ``pyproject.toml`` and ``uv.lock``): uv
   puts that environment on ``PATH`` for its child only;
2. ``mlops ...`` when the shell's ``PATH`` finds this environment's script;
3. the ``uv run`` form for a uv project's ``.venv`` that is not on ``PATH``;
4. the script's absolute path otherwise.

Standard library only; cheap enough for error paths (one ``PATH`` lookup, cached).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["mlops_command", "shell_command"]


def shell_command(tool: str, *args: str | Path) -> str:
    """A shell line that runs ``tool`` (``mlops``, ``mlflow``...) with ``args`` as given."""
    words = [*_prefix(tool), *(str(a) for a in args)]
    return " ".join(shlex.quote(w) for w in words)


def mlops_command(*args: str | Path) -> str:
    """``shell_command("mlops", *args)``: e.g. ``mlops sync -p demo``."""
    return shell_command("mlops", *args)


@functools.lru_cache(maxsize=8)
def _prefix(tool: str) -> tuple[str, ...]:
    bin_dir = Path(sys.executable).parent
    script = bin_dir / tool
    if not script.exists():
        return (tool,)  # not installed here: the plain name, as the install hint says
    project = _uv_project(bin_dir)
    # `uv run` puts the environment on PATH for its child only, not for the user's shell.
    launched_by_uv = "UV_RUN_RECURSION_DEPTH" in os.environ
    if project is not None and launched_by_uv:
        return ("uv", "run", "--no-sync", "--project", str(project), tool)
    found = shutil.which(tool)
    if found is not None and _same(Path(found), script):
        return (tool,)
    if project is not None and shutil.which("uv") is not None:
        return ("uv", "run", "--no-sync", "--project", str(project), tool)
    return (str(script),)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _uv_project(bin_dir: Path) -> Path | None:
    """The uv project whose ``.venv`` holds ``bin_dir``, if it is one."""
    venv = bin_dir.parent
    project = venv.parent
    is_project = (project / "pyproject.toml").is_file() and (project / "uv.lock").is_file()
    return project if venv.name == ".venv" and is_project else None
