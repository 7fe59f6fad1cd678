"""The ``mlops`` command line: a thin layer over :class:`~mlops.client.MLOpsClient`.

Errors print one line and exit 1; ``--debug`` (before the command) shows the traceback.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from mlops.cli import dashboard, data, demo, hardware, lora, monitor, serve, team
from mlops.cli._common import err_console
from mlops.cli._output import configure_output
from mlops.cli.core import register_core
from mlops.errors import MLOpsClientError, redact

__all__ = ["app", "main"]


class _ErrorsToOneLine(TyperGroup):
    """Turn an MLOpsClientError from any command into one line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MLOpsClientError as err:
            if ctx.params.get("debug"):
                raise
            err_console.print(
                f"[bold red]error:[/] {escape(redact(err))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from err


app = typer.Typer(
    name="mlops",
    cls=_ErrorsToOneLine,
    help="One client per ML project: tracking, data versions, serving, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show the tools' own log lines.")
    ] = False,
) -> None:
    """One client per ML project: tracking, data versions, serving, monitoring."""
    configure_output(verbose or debug)


demo.register(app)
register_core(app)
app.add_typer(data.app, name="data", help="Data versions on DVC, linked to runs.")
app.add_typer(monitor.app, name="monitor", help="Drift and performance monitoring on Evidently.")
app.add_typer(hardware.app, name="hardware", help="What this machine's hardware probes report.")
app.add_typer(lora.app, name="lora", help="LoRA fine-tuning with mlx-lm, tracked in a run.")
app.add_typer(
    team.app, name="team", help="A team's shared services on this machine (try team mode)."
)
serve.register(app)
dashboard.register(app)


def main() -> None:
    """Entry point of the ``mlops`` console script."""
    app()
