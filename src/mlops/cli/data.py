"""`mlops data` commands: data versions on DVC, linked to runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mlops.cli._common import ProjectOption, RootOption, console, err_console, get_client

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

__all__ = ["app"]

app = typer.Typer(help="Data versions on DVC, linked to runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TargetsArg = Annotated[
    list[Path] | None, typer.Argument(help="Tracked paths or .dvc files (default: all).")
]
RemoteOption = Annotated[
    str | None, typer.Option("--remote", "-r", help="DVC remote name (default: the project's).")
]


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="File or folder inside the repository.")],
    *,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="Track each file separately.")
    ] = False,
    context: Annotated[str, typer.Option(help="Dataset context recorded on a run.")] = "training",
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Track PATH with DVC and print its data version (md5, size, .dvc file)."""
    client = _client(project, repo_root, as_json)
    with _progress(f"hashing {path}", as_json):
        version = client.dvc_add(path, recursive=recursive, context=context)
    if as_json:
        _print_json(version)
        return
    console.print(
        f"tracked {version['path']}  md5 {version['md5'] or '(per file)'}  "
        f"{_size(version['size'])} in {version['nfiles']} file(s)  "
        f"-> {version['dvc_file'] or '*.dvc'}"
    )
    console.print(
        "commit the .dvc file(s) and .gitignore with git; `mlops data push` uploads the data"
    )


@app.command("push")
def push(
    targets: TargetsArg = None,
    *,
    remote: RemoteOption = None,
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload tracked data to the project's remote (resumes after an interruption)."""
    client = _client(project, repo_root, as_json)
    with _progress("pushing", as_json):
        result = client.dvc_push(targets, remote=remote)
    _report(result, as_json, f"pushed {result['pushed']} object(s), {_size(result['bytes'])}")


@app.command("pull")
def pull(
    targets: TargetsArg = None,
    *,
    remote: RemoteOption = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite local changes.")] = False,
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download tracked data from the remote and check it out."""
    client = _client(project, repo_root, as_json)
    with _progress("pulling", as_json):
        result = client.dvc_pull(targets, remote=remote, force=force)
    _report(result, as_json, f"fetched {result['fetched']} object(s), {_size(result['bytes'])}")


@app.command("status")
def status(
    targets: TargetsArg = None,
    *,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Has the data this run used changed since?")
    ] = None,
    cloud: Annotated[
        bool, typer.Option("--cloud/--no-cloud", help="Also compare with the remote.")
    ] = True,
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """Workspace and remote status of tracked data, or (--run) changes since a run."""
    client = get_client(project, repo_root)
    if run_id:
        rows = client.compare_data_versions(run_id)
        if as_json:
            _print_json(rows)
            return
        _run_table(run_id, rows)
        return
    result = client.dvc_status(targets, cloud=cloud)
    if as_json:
        _print_json(result)
        return
    _status_lines(result)


@app.command("lineage")
def lineage(
    run_id: Annotated[str, typer.Argument(help="MLflow run ID.")],
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: JsonOption = False,
) -> None:
    """The data versions RUN_ID used (path, md5, size, remote, git revision)."""
    versions = get_client(project, repo_root).get_data_versions(run_id)
    if as_json:
        _print_json(versions)
        return
    if not versions:
        console.print(f"run {run_id} records no DVC data versions")
        return
    table = Table("path", "md5", "size", "files", "context", "git rev", "remote")
    for v in versions:
        rev = (v.get("rev") or "-")[:10]
        table.add_row(
            v["path"],
            v["md5"],
            _size(v.get("size")),
            str(v.get("nfiles") or "-"),
            v.get("context") or "-",
            rev,
            v.get("remote") or "-",
        )
    console.print(table)


def _shows_progress(as_json: bool) -> bool:
    return sys.stderr.isatty() and not as_json


def _client(project: str | None, repo_root: Path | None, as_json: bool) -> MLOpsClient:
    """The project's client; on a terminal it lets DVC draw its bars (never with --json)."""
    return get_client(project, repo_root, data_progress=_shows_progress(as_json))


@contextmanager
def _progress(what: str, as_json: bool) -> Iterator[None]:
    if _shows_progress(as_json):
        err_console.print(f"{what}...")
    yield


def _report(result: dict[str, Any], as_json: bool, line: str) -> None:
    if as_json:
        _print_json(result)
        return
    console.print(f"{line}  remote {result['remote']} ({result['url']})")


def _status_lines(result: dict[str, Any]) -> None:
    for row in result["modified"]:
        console.print(f"[yellow]{row['state']}[/]: {row['path'] or row['dvc_file']}")
    if "new" in result:
        console.print(
            f"remote {result['remote']}: {result['new']} object(s) not pushed, "
            f"{result['missing']} missing everywhere, {result['deleted']} only on the remote"
        )
    console.print("[green]up to date[/]" if result["clean"] else "changes pending")


def _run_table(run_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print(f"run {run_id} records no DVC data versions")
        return
    table = Table("path", "run md5", "current md5", "changed")
    for row in rows:
        changed = "[red]yes[/]" if row["changed"] else "[green]no[/]"
        if row["workspace_modified"]:
            changed += " (workspace modified)"
        table.add_row(row["path"], row["run_md5"], row["current_md5"] or "(untracked)", changed)
    console.print(table)


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _print_json(value: object) -> None:
    # Plain echo: rich would wrap long lines and break the JSON for scripts.
    typer.echo(json.dumps(value, indent=2, default=str))
