"""``mlops hardware``: what this machine's probes report, live until Ctrl-C, or ``--once``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.table import Table

from mlops.cli._common import ProjectOption, RootOption, console, get_client

if TYPE_CHECKING:
    from mlops.hardware import Probe

__all__ = ["app", "render"]

app = typer.Typer(
    help="What this machine's hardware probes report.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True)
def hardware(
    once: Annotated[bool, typer.Option("--once", help="Print one table and exit.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON report and exit.")
    ] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.1, help="Seconds per refresh.")
    ] = 1.0,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Show the probes, host facts and readings; refresh every second until Ctrl-C."""
    client = get_client(project, repo_root)
    if once or as_json:
        report = client.hardware_report()
        if as_json:
            console.print_json(json.dumps(report))
        else:
            console.print(render(report["probes"], report["host"], report["metrics"]))
        return
    _live(client.hardware_probes(), refresh)


def _live(probes: list[Probe], refresh: float) -> None:
    from rich.live import Live

    from mlops.hardware import WarnOnce, collect_host_facts, merge_samples

    warn = WarnOnce()
    names = [p.name for p in probes]
    facts = collect_host_facts(probes, warn)
    try:
        with Live(render(names, facts, {}), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(refresh)
                live.update(render(names, facts, merge_samples(probes, warn)), refresh=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this view ends, not an error
    finally:
        for probe in probes:
            probe.close()


def render(probes: list[str], facts: dict[str, Any], metrics: dict[str, float]) -> Group:
    """The host-facts table and the readings table, as ``mlops hardware`` prints them."""
    host = Table(title=f"host (probes: {', '.join(probes) or 'none'})", title_justify="left")
    host.add_column("fact")
    host.add_column("value")
    for key, value in sorted(facts.items()):
        host.add_row(key, str(value))
    readings = Table(title="readings", title_justify="left")
    readings.add_column("metric")
    readings.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        readings.add_row(key, f"{value:,.2f}")
    if not metrics:
        readings.add_row("(waiting for the first sample)", "")
    return Group(host, readings)
