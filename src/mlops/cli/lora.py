"""`mlops lora train -- <mlx_lm lora arguments>`: mlx-lm's LoRA training inside a tracked run."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlops.cli._common import ProjectOption, RootOption, console, get_client

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train(  # noqa: PLR0917 - typer maps each parameter to an option
    ctx: typer.Context,
    project: ProjectOption = None,
    repo_root: RootOption = None,
    run_name: Annotated[str | None, typer.Option("--run-name", help="The run's name.")] = None,
    register: Annotated[
        str, typer.Option("--register", help="Registered model name of the adapter.")
    ] = "lora_adapter",
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Log the adapter without registering it.")
    ] = False,
    no_data_version: Annotated[
        bool, typer.Option("--no-data-version", help="Do not version --data with DVC.")
    ] = False,
    system_metrics: Annotated[
        bool | None,
        typer.Option(
            "--system-metrics/--no-system-metrics",
            help="Sample system metrics (CPU, memory, GPU, MLX memory) during the run "
            "(default: the project's hardware.system_metrics).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run `python -m mlx_lm lora ARGS` in a run: metrics, params, data version, adapter model.

    Everything after `--` goes to mlx-lm unchanged, e.g.
    `mlops lora train -p my-project -- --model ./base --train --data ./data --iters 100`.
    """
    from mlops.integrations.mlx_lm_cli import run_lora_training

    client = get_client(project, repo_root)
    try:
        result = run_lora_training(
            client,
            list(ctx.args),
            run_name=run_name,
            register_as=None if no_register else register,
            version_data=not no_data_version,
            log_system_metrics=system_metrics,
        )
    finally:
        client.close()
    if as_json:
        console.print_json(json.dumps(result, default=str))
        return
    last = result["last"]
    console.print(
        f"run {result['run_id']}: {result['train_reports']} train and {result['val_reports']} "
        f"validation reports logged (train_loss {last.get('train_loss', float('nan')):.4f}, "
        f"val_loss {last.get('val_loss', float('nan')):.4f})"
    )
    console.print(f"adapter {result['adapter_path']} -> {result['model_uri']}")
    if result["registered_version"]:
        console.print(f"registered {result['registered_model']} v{result['registered_version']}")
