"""Core commands: init, status, runs, server, sync."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mlops.cli._common import ProjectOption, RootOption, console, get_client
from mlops.errors import InvalidInputError
from mlops.invocation import mlops_command

__all__ = ["register_core"]

runs_app = typer.Typer(help="Runs of a project.", no_args_is_help=True)
server_app = typer.Typer(help="A shared MLflow tracking server for a team.", no_args_is_help=True)


def register_core(app: typer.Typer) -> None:
    """Add the core commands to the main app."""
    app.command("init")(init)
    app.command("status")(status)
    app.command("sync")(sync)
    app.add_typer(runs_app, name="runs")
    app.add_typer(server_app, name="server")


def init(
    path: Annotated[Path, typer.Argument(help="Folder to write mlops.toml into.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented mlops.toml with every setting and its default."""
    from mlops.config import render_default_config

    target = path / "mlops.toml"
    if target.exists() and not force:
        raise InvalidInputError(
            f"{target} already exists",
            component="cli",
            operation="init",
            hint="pass --force to overwrite",
        )
    path.mkdir(parents=True, exist_ok=True)
    target.write_text(render_default_config())
    console.print(f"wrote {target}")
    if _ignore_mlops_dir(path):
        console.print(f"added .mlops/ to {path / '.gitignore'} (local stores stay out of git)")


def _ignore_mlops_dir(path: Path) -> bool:
    """Add ``.mlops/`` to the repository's .gitignore; True if it was added."""
    ignore = path / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if not (path / ".git").exists() or any(
        x.strip() in (".mlops", ".mlops/", "/.mlops/") for x in lines
    ):
        return False
    with ignore.open("a") as fh:
        fh.write(("\n" if lines and lines[-1] else "") + ".mlops/\n")
    return True


def status(
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Components (installed, version, reachable, install hint) and pending metric data."""
    client = get_client(project, repo_root)
    info = client.get_status()
    if as_json:
        console.print_json(json.dumps(info))
        return
    console.print(f"project [bold]{info['project']}[/]  root {info['root']}")
    console.print(f"config  {info['config_file'] or '(defaults)'}")
    console.print(f"tracking URI {info['tracking_uri']}")
    table = Table("component", "installed", "version", "reachable", "configured / install hint")
    for name, comp in info["components"].items():
        reach = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[comp["reachable"]]
        table.add_row(
            name,
            "[green]yes[/]" if comp["installed"] else "[red]no[/]",
            comp["version"] or "-",
            reach,
            comp["hint"] or comp["configured"] or "",
        )
    console.print(table)
    services = Table("service", "where", "reachable", "version", "problem / fix")
    for row in info["services"]:
        reach = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[row["reachable"]]
        problem = f"{row['error']}; {row['fix']}" if row["error"] else ""
        where = f"{row['location'] or '(not set)'}" + (" (shared)" if row["shared"] else "")
        services.add_row(row["service"], where, reach, row["version"] or "-", problem)
    console.print(services)
    hw = info["hardware"]
    console.print(f"hardware probes: {', '.join(hw['probes']) or 'none'}  (mlops hardware --once)")
    _print_pending(info)


def _print_pending(info: dict[str, Any]) -> None:
    """What waits for the tracking store: runs (offline or pending), the delivery agent."""
    tel = info["telemetry"]
    console.print(
        f"waiting to be delivered: {tel.get('pending_points', 0):,} metric points "
        f"({tel['pending_bytes']:,} bytes) of {tel['runs']} runs"
        f" ({len(tel['offline_runs'])} offline); set aside: {tel['rejected_records']} records",
        highlight=False,
    )
    for run_id in tel["offline_runs"]:
        console.print(f"  offline run {run_id} (not on the server yet)", highlight=False)
    for run_id in tel["pending_runs"]:
        if run_id not in tel["offline_runs"]:
            console.print(f"  pending run {run_id} (data not delivered yet)", highlight=False)
    agent = tel["agent"]
    if agent.get("pid"):
        console.print(
            f"delivery agent: pid {agent['pid']}, {agent.get('state')}"
            + (f" ({agent['last_error']})" if agent.get("last_error") else ""),
            highlight=False,
            markup=False,
        )
    else:
        console.print("delivery agent: not running", highlight=False)
    if tel["pending_bytes"]:
        sync = mlops_command("sync", "-p", info["project"], "--repo-root", info["root"])
        console.print(f"  deliver now: {sync}", highlight=False, markup=False)


def sync(
    project: ProjectOption = None,
    repo_root: RootOption = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Give up after this many seconds in which nothing was delivered "
            "(a backlog that keeps moving is delivered to the end)."
        ),
    ] = 120.0,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Keep delivering what other processes log, until Ctrl-C."),
    ] = False,
) -> None:
    """Deliver everything the project's log holds: offline runs, crashed or cut-off processes.

    Shows the metric points and runs left and the points/s. Exits 1 when something is
    still pending (nothing was delivered for --timeout seconds: the server is away) or
    the store rejected a record for good (set aside in the log's dead/ folder, with the
    reason).
    """
    from rich.progress import Progress

    client = get_client(project, repo_root)
    with Progress(console=console, transient=True) as progress:
        report = _SyncProgress(progress)
        try:
            result = client.sync(timeout, report, watch=watch)
        except KeyboardInterrupt:
            console.print("stopped")
            return
    client.close(timeout=5)
    _sync_summary(result, time.monotonic() - report.started)
    if not result["complete"] or result.get("set_aside"):
        raise typer.Exit(1)


class _SyncProgress:
    """The progress bar of ``mlops sync``: metric points delivered of all known, points/s."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task = progress.add_task("delivering", total=None)
        self.started = time.monotonic()

    def __call__(self, state: dict[str, Any]) -> None:
        left = int(state.get("pending_points") or 0)
        done = int(state.get("delivered_points") or 0)
        seconds = time.monotonic() - self.started
        rate = done / seconds if seconds > 0 else 0.0
        self.progress.update(
            self.task,
            completed=done,
            total=max(done + left, 1),
            description=f"delivering: {left:,} points of {state.get('pending_runs', 0)} runs "
            f"left, {rate:,.0f} points/s",
        )


def _sync_summary(result: dict[str, Any], seconds: float) -> None:
    points = int(result.get("delivered_points") or 0)
    events = int(result.get("delivered_events") or 0)
    rate = f", {points / seconds:,.0f} points/s" if points and seconds > 0 else ""
    done = f"{points + events:,} records ({points:,} metric points, {events:,} other)"
    if result["complete"]:
        console.print(
            f"all delivered: {done} from {result['segments']} segments in {seconds:.1f} s{rate}",
            highlight=False,
        )
    else:
        error = result.get("last_error")
        console.print(
            f"delivered {done} in {seconds:.1f} s{rate}; still pending: "
            f"{int(result.get('pending_points') or 0):,} metric points "
            f"({result['pending']:,} bytes) of {result['pending_runs']} runs"
            + (f" ({error})" if error else ""),
            highlight=False,
            markup=False,
        )
    if result.get("set_aside"):
        console.print(
            f"[red]{result['set_aside']} records set aside[/] (the tracking store rejected them "
            "for good; kept in the log's dead/ folder):",
            highlight=False,
        )
        for reason in result.get("set_aside_reasons") or []:
            console.print(f"  {reason}", highlight=False, markup=False)


@runs_app.command("list")
def runs_list(
    project: ProjectOption = None,
    repo_root: RootOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    show_all: Annotated[bool, typer.Option("--all", help="Also list the monitoring run.")] = False,
) -> None:
    """Recent runs with their status and key metrics, one line each (fits the terminal)."""
    from mlops.cli._runs_table import RunRow, fit, render
    from mlops.tags import RUN_TYPE_TAG

    client = get_client(project, repo_root)
    # One monitoring run per project: ask for one more so hiding it still shows `limit`.
    found = client.search_runs(max_results=limit if show_all else limit + 1)
    runs = [r for r in found if show_all or r.data.tags.get(RUN_TYPE_TAG) != "monitoring"]
    hidden, runs = len(found) - len(runs), runs[:limit]
    rows = [
        RunRow(
            r.info.run_name or "", r.info.status, r.info.start_time, r.data.metrics, r.info.run_id
        )
        for r in runs
    ]
    note = f" ({hidden} monitoring run hidden: --all shows it)" if hidden else ""
    title = f"project {client.project}: {len(runs)} runs{note}"
    console.print(fit(title, console.width), markup=False, highlight=False, emoji=False)
    for line in render(rows, console.width) if rows else []:
        console.print(line, markup=False, highlight=False, emoji=False)


def _server_settings(project: str | None, repo_root: Path | None, **overrides: Any) -> Any:
    from mlops.cli._common import default_project
    from mlops.config import load_settings

    given = {f"server_{k}": v for k, v in overrides.items() if v is not None}
    return load_settings(project or default_project(), repo_root=repo_root, overrides=given)


@server_app.command("start")
def server_start(  # noqa: PLR0917 - typer maps each parameter to an option
    repo_root: RootOption = None,
    backend_store_uri: Annotated[
        str | None, typer.Option(help="e.g. postgresql+psycopg2://...")
    ] = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int | None, typer.Option(help="server worker processes")] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            help="where artifacts go, e.g. s3://bucket/prefix (MLFLOW_S3_ENDPOINT_URL "
            "for an S3-compatible endpoint)"
        ),
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="MLflow's basic-auth app; the first start reads MLFLOW_AUTH_ADMIN_PASSWORD",
        ),
    ] = None,
) -> None:
    """Start `mlflow server` in the background from the central config."""
    from mlops.tracking.server import start_server

    settings = _server_settings(
        None,
        repo_root,
        backend_store_uri=backend_store_uri,
        host=host,
        port=port,
        workers=workers,
        auth=auth,
        artifacts_destination=artifacts_destination,
    )
    info = start_server(settings)
    console.print(f"MLflow server running at {info.url} (pid {info.pid}), log {info.log_path}")
    console.print(f"point projects at it:  export MLOPS_TRACKING_URI={info.url}")


@server_app.command("stop")
def server_stop(repo_root: RootOption = None) -> None:
    """Stop the recorded server by its PID."""
    from mlops.tracking.server import stop_server

    info = stop_server(_server_settings(None, repo_root))
    console.print(f"stopped server pid {info.pid}" if info else "no server recorded")


@server_app.command("status")
def server_status_cmd(repo_root: RootOption = None) -> None:
    """Whether the recorded server runs, where, and on which store (password redacted)."""
    from mlops.tracking.server import server_status

    info = server_status(_server_settings(None, repo_root))
    if info is None:
        console.print("no server recorded")
        raise typer.Exit(1)
    for key, value in info.as_dict().items():
        console.print(f"{key}: {value}")
    if not info.running:
        raise typer.Exit(1)
