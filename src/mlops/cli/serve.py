"""`mlops deploy` and `mlops serve` commands."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from mlops.cli._common import ProjectOption, RootOption, console, err_console, get_client

__all__ = ["register"]


def deploy(
    model_path: Annotated[
        str,
        typer.Argument(
            help="runs:/<run_id>/<name>, models:/<name>/<version>, models:/<name>@<alias>, "
            "models:/m-<id>, or a folder. Folders of a known kind (an MLflow model with MLmodel, "
            "an mlx-lm or PEFT adapter, an MLX/Hugging Face model) need no --predictor; "
            "other folders do."
        ),
    ],
    *,
    name: Annotated[str, typer.Option("--name", "-n", help="BentoML model and Bento name.")],
    version: Annotated[
        str | None, typer.Option("--version", help="BentoML version (default: generated).")
    ] = None,
    predictor: Annotated[
        str | None,
        typer.Option("--predictor", help="For folders of no known kind: package.module:Class."),
    ] = None,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Also build the Bento.")] = True,
    push: Annotated[
        bool, typer.Option("--push", help="Also push the Bento to serving.registry.")
    ] = False,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Import a model into BentoML and build its Bento; print the result as JSON."""
    client = get_client(project, repo_root)
    result = client.deploy_model(
        model_path, name, version, build_bento=build, predictor=predictor, push=push
    )
    console.print_json(json.dumps(result, default=str))
    target = result["bento_tag"] or result["model_tag"]
    err_console.print(f"serve it with: {_serve_command(target, client.project, repo_root)}")


def serve(
    tag: Annotated[str, typer.Argument(help="A Bento tag, or a model tag from `mlops deploy`.")],
    *,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default: serving.port or a free one).")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default: serving.host).")
    ] = None,
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Serve TAG over HTTP until Ctrl-C.

    POST /predict with {"data": [...]}, or /generate with {"prompt": "..."} for text generation.
    """
    client = get_client(project, repo_root)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server like Ctrl-C does
    with client.serve(tag, port=port, host=host) as server:
        route = client.api_route(server.tag)
        endpoint = f"{server.url}{route}"
        err_console.print(
            f"serving {server.tag} at {endpoint} (log: {server.log_path}); Ctrl-C stops",
            markup=False,
            highlight=False,
        )
        err_console.print(f"try it: {_example(endpoint, route)}", markup=False, highlight=False)
        try:
            while server.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            err_console.print("stopping")
            return
    err_console.print(f"the server stopped on its own; its log: {server.log_path}")
    raise typer.Exit(1)


def _example(endpoint: str, route: str) -> str:
    """How to call the served route: a curl command that works as printed, for generation."""
    from mlops.serving.generation import GENERATE_ROUTE

    if route != GENERATE_ROUTE:  # the body's columns depend on the model
        return f'POST {endpoint} with {{"data": [row, ...]}} (rows or records)'
    body = json.dumps({"prompt": "Hello", "max_tokens": 32})
    return f"curl -s -X POST {endpoint} -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def _serve_command(tag: str, project: str, repo_root: Path | None) -> str:
    from mlops.invocation import mlops_command

    where = ("--repo-root", str(repo_root)) if repo_root else ()
    return mlops_command("serve", tag, "-p", project, *where)


bento_app = typer.Typer(no_args_is_help=True)


@bento_app.command("push")
def bento_push(
    tag: Annotated[str, typer.Argument(help="The Bento tag (name:version) to share.")],
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Put a Bento (its models and lineage labels) in the team's registry."""
    result = get_client(project, repo_root).push_bento(tag)
    verb = "pushed" if result["pushed"] else "already in the registry:"
    console.print(f"{verb} {result['tag']} -> {result['url']} ({result['bytes']:,} bytes)")


@bento_app.command("pull")
def bento_pull(
    tag: Annotated[str, typer.Argument(help="name:version, or name for the newest push.")],
    project: ProjectOption = None,
    repo_root: RootOption = None,
) -> None:
    """Bring a Bento from the team's registry into this machine's store."""
    client = get_client(project, repo_root)
    result = client.pull_bento(tag)
    verb = "pulled" if result["pulled"] else "already here:"
    console.print(f"{verb} {result['tag']} from {result['url']}")
    err_console.print(f"serve it with: {_serve_command(result['tag'], client.project, repo_root)}")


@bento_app.command("list")
def bento_list(project: ProjectOption = None, repo_root: RootOption = None) -> None:
    """Every Bento in the team's registry."""
    entries = get_client(project, repo_root).list_registry()
    for entry in entries:
        console.print(f"{entry['tag']}  {entry['bytes']:,} bytes  {entry['url']}")
    if not entries:
        console.print("the registry holds no Bento yet")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add ``deploy`` and ``serve`` to the main app."""
    app.command("deploy")(deploy)
    app.command("serve")(serve)
    app.add_typer(bento_app, name="bento", help="A team's Bento registry (serving.registry).")
