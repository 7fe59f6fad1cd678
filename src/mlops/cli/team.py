"""`mlops team up|down|status`: a team's shared services on this machine, to try team mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops.cli._common import RootOption, console

if TYPE_CHECKING:
    from mlops.config import Settings

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


def _settings(repo_root: RootOption) -> Settings:
    from mlops.cli._common import default_project
    from mlops.config import load_settings

    return load_settings(default_project(), repo_root=repo_root)


@app.command("up")
def up(
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            help="The tracking server's store, e.g. postgresql+psycopg2://...; "
            "default sqlite under .mlops/server"
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface the services bind.")] = "127.0.0.1",
    repo_root: RootOption = None,
) -> None:
    """Start an S3 endpoint, the MLflow server and an Evidently UI; write team.toml."""
    from mlops.invocation import mlops_command
    from mlops.team import team_up

    result = team_up(_settings(repo_root), backend_store_uri, host)
    services = result["services"]
    console.print(f"tracking    {services['tracking']['url']}  (pid {services['tracking']['pid']})")
    console.print(f"S3          {services['s3']['url']}  (pid {services['s3']['pid']})")
    console.print(
        f"monitoring  {services['monitoring']['url']}  (pid {services['monitoring']['pid']})"
    )
    credentials = " ".join(f"{k}={v}" for k, v in result["credentials"].items())
    console.print("use them from this repository's projects (in each shell):", highlight=False)
    console.print(f"  export MLOPS_CONFIG={result['config']} {credentials}", highlight=False)
    where = ("--repo-root", str(repo_root)) if repo_root else ()
    console.print(f"stop them: {mlops_command('team', 'down', *where)}", highlight=False)


@app.command("down")
def down(repo_root: RootOption = None) -> None:
    """Stop the services `mlops team up` started, by their recorded PIDs."""
    from mlops.team import team_down

    stopped = team_down(_settings(repo_root))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no team services recorded")


@app.command("status")
def status(repo_root: RootOption = None) -> None:
    """The recorded services and whether each still runs."""
    from mlops.team import team_status

    info = team_status(_settings(repo_root))
    for name, service in info["services"].items():
        state = "running" if service["running"] else "not running"
        console.print(f"{name:<11} {service.get('url', '-')}  pid {service['pid']}  {state}")
    if not info["services"]:
        console.print("no team services recorded (mlops team up)")
        raise typer.Exit(1)
