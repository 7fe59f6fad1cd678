"""`mlops dashboard`: refuses unsafe binds and busy ports before serving; stays light to import."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tests.conftest import uninstall
from typer.testing import CliRunner

from mlops.cli import dashboard
from mlops.errors import ComponentUnavailableError, ConfigurationError, InvalidInputError

HEAVY = ("fastapi", "starlette", "uvicorn", "plotly", "mlflow", "pandas")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A group, so `dashboard` stays a sub-command."""

    dashboard.register(app)
    return app


def _invoke(repo: Path, *args: str) -> object:
    return CliRunner().invoke(_app(), ["dashboard", "--repo-root", str(repo), *args])


def test_exposed_bind_without_token_is_refused(repo: Path) -> None:
    result = _invoke(repo, "--host", "0.0.0.0")
    assert result.exit_code != 0  # type: ignore[attr-defined]
    error = result.exception  # type: ignore[attr-defined]
    assert isinstance(error, ConfigurationError) and "token is required" in str(error)


def test_weak_token_is_refused(repo: Path) -> None:
    result = _invoke(repo, "--host", "0.0.0.0", "--token", "short")
    assert isinstance(result.exception, ConfigurationError)  # type: ignore[attr-defined]


def test_token_from_the_environment_counts(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_DASHBOARD_TOKEN", "environment-token-0123456789")
    with socket.socket() as busy:  # stops the command at the port check, after the token check
        busy.bind(("0.0.0.0", 0))
        port = busy.getsockname()[1]
        result = _invoke(repo, "--host", "0.0.0.0", "--port", str(port))
    error = result.exception  # type: ignore[attr-defined]
    assert isinstance(error, InvalidInputError) and f"0.0.0.0:{port}" in str(error)


def test_busy_port_is_reported_before_serving(repo: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke(repo, "--port", str(port))
    error = result.exception  # type: ignore[attr-defined]
    assert isinstance(error, InvalidInputError) and "another --port" in (error.hint or "")


def test_importing_the_command_imports_no_web_stack() -> None:
    code = (
        "import json, sys; import mlops.cli.dashboard; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_missing_web_stack_names_the_install_command(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninstall(monkeypatch, "plotly")
    result = _invoke(repo)
    error = result.exception  # type: ignore[attr-defined]
    assert isinstance(error, ComponentUnavailableError) and "plotly" in str(error)
    assert "mlops[dashboard]" in (error.hint or "")
