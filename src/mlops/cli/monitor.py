"""``mlops monitor``: set the reference, check a batch, open the Evidently UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli._common import ProjectOption, RootOption, console, get_client

app = typer.Typer(help="Drift and performance monitoring on Evidently.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="CSV, Parquet, JSON or JSON-lines file.")]
TargetOption = Annotated[
    str | None, typer.Option("--target", "-t", help="Target column (default: the reference's).")
]
PredictionOption = Annotated[
    str | None,
    typer.Option("--prediction", "-P", help="Prediction column (default: the reference's)."),
]


@app.command("set-reference")
def set_reference(
    file: FileArg,
    target: TargetOption = None,
    prediction: PredictionOption = None,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Store FILE as the reference that later batches are compared with."""
    client = get_client(project, repo_root)
    info = client.set_reference_data(file, target, prediction)
    sampled = info["sampled"]
    note = f" (sampled from {sampled['rows_in']:,})" if sampled.get("applied") else ""
    console.print(
        f"[bold]reference set[/] for project {client.project}: {info['rows']:,} rows{note}"
    )
    console.print(f"  features ({len(info['features'])}): {', '.join(info['features'])}")
    console.print(
        f"  target: {info['target']}  prediction: {info['prediction']}  task: {info['task']}"
    )
    if info["ignored"]:
        console.print(f"  ignored (not numerical or categorical): {', '.join(info['ignored'])}")


@app.command("check")
def check(  # noqa: PLR0917 - typer maps each parameter to an option
    file: FileArg,
    target: TargetOption = None,
    prediction: PredictionOption = None,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="Mean latency of the batch, ms.")
    ] = None,
    memory_mb: Annotated[
        float | None, typer.Option("--memory-mb", help="Memory of the model server, MB.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Check FILE against the reference; exit 1 when drift is detected or an alert fires."""
    client = get_client(project, repo_root)
    try:
        result = client.monitor_predictions(file, target, prediction, latency_ms, memory_mb)
        cfg = client.settings.monitoring
        client.flush_alerts(cfg.webhook_timeout * cfg.webhook_retries + 5)
    finally:
        client.close()
    if as_json:
        import json

        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        _summary(result)
    if result["drift_detected"] or result["alerts"]:
        raise typer.Exit(1)


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option(help="Port of the Evidently UI.")] = 8000,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Run the Evidently UI on this project's monitoring history, at 127.0.0.1."""
    from mlops.components import require

    client = get_client(project, repo_root)
    require("monitoring", "monitor_ui")
    service = client.settings.monitoring_service
    if service:  # a team's service: its UI is already running
        console.print(f"Evidently UI of the team: {client.settings.monitoring_location}")
        return
    workspace = client.settings.monitoring_workspace
    workspace.mkdir(parents=True, exist_ok=True)
    console.print(
        f"Evidently UI: http://127.0.0.1:{port}  (workspace {workspace}; Ctrl-C stops it)"
    )
    sys.stdout.flush()
    args = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(workspace)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    # Replace this process: stopping `mlops monitor ui` stops the UI, with no orphan left.
    os.execve(sys.executable, args, {**os.environ, "DO_NOT_TRACK": "1"})


def _summary(result: dict[str, Any]) -> None:
    from rich.table import Table

    verdict = "[bold red]DRIFT[/]" if result["drift_detected"] else "[green]no dataset drift[/]"
    console.print(
        f"check {result['check']} of {result['project']}: {verdict}, "
        f"{len(result['drifted_columns'])} of {len(result['column_drift'])} columns drifted "
        f"(share {result['drift_share']:.2f}), {result['rows']:,} rows"
        + (
            f" sampled from {result['sampled']['rows_in']:,}"
            if result["sampled"]["applied"]
            else ""
        )
    )
    table = Table("column", "method", "score", "threshold", "drifted")
    for name, drift in _drift_rows(result):
        mark = "[red]yes[/]" if drift["drifted"] else "no"
        table.add_row(
            name, drift["method"], f"{drift['score']:.4g}", f"{drift['threshold']:.4g}", mark
        )
    console.print(table)
    if result["performance"]:
        perf = Table("metric", "value", "reference", "status")
        for name, p in result["performance"].items():
            ref = "-" if p["reference"] is None else f"{p['reference']:.4g}"
            perf.add_row(name, f"{p['value']:.4g}", ref, "ok" if p["passed"] else "[red]dropped[/]")
        console.print(perf)
    _alerts(result)


def _drift_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = list(result["column_drift"].items())
    rows += [(f"({role})", result[f"{role}_drift"]) for role in ("target", "prediction")]
    return [(name, drift) for name, drift in rows if drift]


def _alerts(result: dict[str, Any]) -> None:
    for alert in result["alerts"]:
        color = "red" if alert["severity"] == "critical" else "yellow"
        console.print(f"[{color}]alert {alert['type']}[/]: {alert['message']}", highlight=False)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)
    for note in result["skipped"]:
        console.print(f"skipped: {note}", highlight=False)
    if result["retraining_suggested"]:
        console.print("[bold red]retraining suggested[/]")
    console.print(f"report: {result['report_path']}", highlight=False, soft_wrap=True)
