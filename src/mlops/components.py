"""The tools ``mlops`` drives: one declarative table of what installs each and its adapter.

Availability is checked with :func:`importlib.util.find_spec`, never by
importing: ``mlops status`` stays fast and a broken tool cannot crash it. An
adapter (``"module:Class"``) is imported only when :func:`build_adapter` is
first asked for it; every adapter is built from the project's
:class:`~mlops.config.Settings` alone.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops.errors import ComponentUnavailableError

if TYPE_CHECKING:
    from mlops.config import Settings

__all__ = ["COMPONENTS", "Component", "build_adapter", "is_available", "require", "version_of"]


@dataclass(frozen=True)
class Component:
    """One external tool: the module to import, its distribution, install hint and adapter."""

    name: str
    module: str
    distribution: str
    extra: str | None
    purpose: str
    adapter: str | None = None  # "package.module:Class", built as Class(settings)

    @property
    def hint(self) -> str:
        """The command that installs this component."""
        if self.extra is None:
            return f"pip install {self.distribution}"
        return f'pip install "mlops[{self.extra}]"  (or: uv sync --extra {self.extra})'


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "tracking",
            "mlflow",
            "mlflow",
            None,
            "MLflow runs, metrics, models, registry",
            "mlops.tracking._mlflow:MLflowTracker",
        ),
        Component(
            "versioning",
            "dvc",
            "dvc",
            "versioning",
            "DVC data versions",
            "mlops.versioning._dvc:DVCVersioner",
        ),
        Component(
            "serving",
            "bentoml",
            "bentoml",
            "serving",
            "BentoML packaging and serving",
            "mlops.serving._bentoml:BentoMLDeployer",
        ),
        Component(
            "monitoring",
            "evidently",
            "evidently",
            "monitoring",
            "Evidently drift reports",
            "mlops.monitoring._evidently:EvidentlyMonitor",
        ),
        Component("nvidia", "pynvml", "nvidia-ml-py", "nvidia", "NVIDIA GPU metrics via NVML"),
        Component(
            "postgres", "psycopg2", "psycopg2-binary", "postgres", "PostgreSQL tracking store"
        ),
        Component("auth", "flask_wtf", "flask-wtf", "team", "MLflow's basic-auth server app"),
        Component("s3", "boto3", "boto3", "team", "S3 for a team's Bento registry"),
        Component("moto", "moto", "moto", "team", "an S3 endpoint for `mlops team up`"),
        Component("dashboard", "fastapi", "fastapi", "dashboard", "the local dashboard"),
        Component("mlx", "mlx_lm", "mlx-lm", "mlx", "LoRA fine-tuning and text generation on MLX"),
    )
}


def is_available(name: str) -> bool:
    """True when the component's module can be found (it is not imported)."""
    module = COMPONENTS[name].module
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version_of(name: str) -> str | None:
    """Installed version of the component's distribution, or None."""
    import importlib.metadata  # ~30 ms: only status needs it

    try:
        return importlib.metadata.version(COMPONENTS[name].distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def require(name: str, operation: str) -> None:
    """Raise :class:`ComponentUnavailableError` with the install hint if ``name`` is missing."""
    if not is_available(name):
        comp = COMPONENTS[name]
        raise ComponentUnavailableError(
            f"{comp.distribution} is not installed, so {operation} cannot run ({comp.purpose})",
            component=name,
            operation=operation,
            hint=comp.hint,
        )


def build_adapter(name: str, operation: str, settings: Settings) -> Any:
    """The adapter of component ``name`` for ``settings`` (checks the tool is installed first).

    Raises:
        ComponentUnavailableError: the tool is missing (the hint installs it).
    """
    require(name, operation)
    spec = COMPONENTS[name].adapter
    if spec is None:
        raise ValueError(f"component {name!r} has no adapter")
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)(settings)
