"""The optional tools ``mlops`` drives, what installs each, and availability checks.

Availability is checked with :func:`importlib.util.find_spec`, never by
importing: ``mlops status`` stays fast and a broken tool cannot crash it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from mlops.errors import ComponentUnavailableError

__all__ = ["COMPONENTS", "Component", "is_available", "require", "version_of"]


@dataclass(frozen=True)
class Component:
    """One external tool: the module to import, its distribution and install hint."""

    name: str
    module: str
    distribution: str
    extra: str | None
    purpose: str

    @property
    def hint(self) -> str:
        """The command that installs this component."""
        if self.extra is None:
            return f"pip install {self.distribution}"
        return f'pip install "mlops[{self.extra}]"  (or: uv sync --extra {self.extra})'


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("tracking", "mlflow", "mlflow", None, "MLflow runs, metrics, models, registry"),
        Component("versioning", "dvc", "dvc", "versioning", "DVC data versions"),
        Component("serving", "bentoml", "bentoml", "serving", "BentoML packaging and serving"),
        Component("monitoring", "evidently", "evidently", "monitoring", "Evidently drift reports"),
        Component("nvidia", "pynvml", "nvidia-ml-py", "nvidia", "NVIDIA GPU metrics via NVML"),
        Component(
            "postgres", "psycopg2", "psycopg2-binary", "postgres", "PostgreSQL tracking store"
        ),
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
