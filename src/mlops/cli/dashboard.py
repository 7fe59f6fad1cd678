"""``mlops dashboard``: the local read-only web page over every project's records.

FastAPI, uvicorn and plotly are imported inside the command, so ``mlops``
starts as fast without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops.cli._common import RootOption, console

__all__ = ["register"]

_ALL = "mlops-dashboard"  # settings of the repository as a whole when no project is named


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to ``app``."""
    app.command("dashboard")(dashboard)


def dashboard(
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Show this project only (default: every project)."),
    ] = None,
    repo_root: RootOption = None,
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind (default dashboard.host, 127.0.0.1)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default dashboard.port, 8765).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Access token, required off loopback; prefer MLOPS_DASHBOARD_TOKEN "
            "(a command line is visible to other users)."
        ),
    ] = None,
) -> None:
    """Serve a read-only dashboard of runs, data versions, models, monitoring and lineage."""
    from mlops.config import load_settings
    from mlops.dashboard.security import check_bind

    settings = load_settings(project or _ALL, repo_root=repo_root)
    host = host or settings.dashboard.host
    port = settings.dashboard.port if port is None else port
    token = token or settings.dashboard.token
    check_bind(host, token)
    _require_web_stack()
    _check_port(host, port)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"mlops dashboard of {project or 'all projects'} under {settings.root}: "
        f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
        + ("?token=<your token>" if token else "")
        + "  (Ctrl-C stops it)",
        highlight=False,
    )
    from mlops.dashboard.app import serve

    serve(Path(settings.root), project=project, host=host, port=port, token=token)


def _require_web_stack() -> None:
    import importlib.util

    from mlops.components import COMPONENTS
    from mlops.errors import ComponentUnavailableError

    missing = [m for m in ("fastapi", "uvicorn", "plotly") if importlib.util.find_spec(m) is None]
    if missing:
        raise ComponentUnavailableError(
            f"{', '.join(missing)} not installed, so the dashboard cannot run",
            component="dashboard",
            operation="start",
            hint=COMPONENTS["dashboard"].hint,
        )


def _check_port(host: str, port: int) -> None:
    import socket

    from mlops.errors import InvalidInputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                component="dashboard",
                operation="start",
                hint="pick another --port (or set dashboard.port)",
            ) from exc
