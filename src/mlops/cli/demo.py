"""`mlops demo` and `mlops lineage`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlops.cli._common import ProjectOption, RootOption, console, get_client
from mlops.cli._tree import render_lineage

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``lineage`` to the main app."""
    app.command("demo")(demo)
    app.command("lineage")(lineage)


def demo(
    kind: Annotated[
        str | None,
        typer.Argument(help="'lora': the LoRA lifecycle on MLX; default the tabular demo."),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder to run in (default mlops-demo, mlops-lora-demo)."),
    ] = None,
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving", help="Leave the model endpoint up at the end.")
    ] = False,
) -> None:
    """Run the whole lifecycle on the embedded defaults: data, training, serving, monitoring."""
    if kind not in (None, "lora"):
        raise typer.BadParameter(f"unknown demo {kind!r}: use `mlops demo` or `mlops demo lora`")
    folder = directory or Path("mlops-lora-demo" if kind else "mlops-demo")
    result: Any
    if kind == "lora":
        from mlops.demo_lora import run_lora_demo

        result = run_lora_demo(folder, keep_serving=keep_serving, console=console)
    else:
        from mlops.demo import run_demo

        result = run_demo(folder, keep_serving=keep_serving, console=console)
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
