"""`mlops demo` and `mlops lineage`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlops.cli._common import ProjectOption, RootOption, console, get_client

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``lineage`` to the main app."""
    app.command("demo")(demo)
    app.command("lineage")(lineage)


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to run in (made a git repository).")
    ] = Path("mlops-demo"),
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving", help="Leave the model endpoint up at the end.")
    ] = False,
) -> None:
    """Run the whole lifecycle on the embedded defaults: data, training, serving, monitoring."""
    from mlops.demo import run_demo

    result = run_demo(directory, keep_serving=keep_serving, console=console)
    if keep_serving and result.server is not None:
        console.print(f"serving at {result.endpoint}; press Ctrl-C to stop")
        try:
            result.server.process.wait()
        except KeyboardInterrupt:
            result.server.stop()


def lineage(
    model: Annotated[str, typer.Argument(help="Registered model, optionally NAME@VERSION.")],
    project: ProjectOption = None,
    repo_root: RootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where a model came from: data versions -> run -> model version -> bentos -> monitoring."""
    name, _, version = model.partition("@")
    chain = get_client(project, repo_root).lineage(name, version or None)
    if as_json:
        console.print_json(json.dumps(chain, default=str))
    else:
        render_lineage(chain, console)


def render_lineage(chain: dict[str, Any], out: Console) -> None:
    """Print a lineage chain (``client.lineage()``) as a tree."""
    from rich.tree import Tree

    from mlops.monitoring.results import LIMIT_SUFFIX

    model = chain["model"]
    tree = Tree(f"[bold]{model['name']} v{model['version']}[/]  ({model['source']})")
    data = tree.add("data versions")
    for v in chain["data"] or [{"path": "(none recorded)", "md5": ""}]:
        data.add(f"{v['path']}  md5 {v['md5']}")
    run = chain["run"]
    if run:
        node = tree.add(f"run {run['run_id']} ({run['status']})")
        node.add("params: " + ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items())))
        node.add("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(run["metrics"].items())))
    bentos = tree.add("bentos")
    for b in chain["bentos"] or [{"tag": "(none built)", "path": ""}]:
        bentos.add(f"{b['tag']}  {b['path']}")
    mon = chain["monitoring"]
    node = tree.add(
        f"monitoring: {mon['checks']} checks, reference {mon['reference'].get('digest')}"
    )
    if mon["latest"]:
        latest = mon["latest"]
        keys = sorted(k for k in latest if "/" not in k and not k.endswith(LIMIT_SUFFIX))
        node.add("latest check: " + ", ".join(f"{k}={_shown(k, latest[k])}" for k in keys))
    out.print(tree)


def _shown(key: str, value: float) -> str:
    from mlops.monitoring.results import BOOLEAN_METRICS

    if key in BOOLEAN_METRICS:  # yes/no facts, logged to MLflow as 1/0
        return "yes" if value else "no"
    return f"{value:.4g}"
