"""State every part of the facade shares: settings, workspace, lazy adapters, the run stack."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mlops.components import require
from mlops.config import Settings
from mlops.workspace import Workspace

__all__ = ["ClientBase"]

T = TypeVar("T")


class ClientBase:
    """Holds what the component mixins of :class:`~mlops.client.MLOpsClient` share.

    Mixins rely on: ``settings``, ``project``, ``workspace``, ``active_run_id``,
    ``_adapter()`` for lazily built adapters, and the run hooks
    ``_on_run_start`` / ``_on_run_end`` (override and call ``super()``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.project = settings.project
        self.workspace = Workspace(settings.mlops_dir, settings.project)
        self._lock = threading.RLock()
        self._adapters: dict[str, Any] = {}
        self._run_stack: list[str] = []

    @property
    def active_run_id(self) -> str | None:
        """ID of the innermost run opened by :meth:`start_run`, or None."""
        stack = self._run_stack  # read without the lock: list indexing is atomic
        return stack[-1] if stack else None

    def _adapter(self, name: str, component: str, operation: str, factory: Callable[[], T]) -> T:
        """Build the adapter ``name`` once, after checking its tool is installed.

        ``factory`` imports the adapter module (and so the tool): it runs only
        on first use, which keeps ``import mlops`` and client creation light.
        """
        with self._lock:
            if name not in self._adapters:
                require(component, operation)
                self._adapters[name] = factory()
            return self._adapters[name]  # type: ignore[no-any-return]

    def _on_run_start(self, run_id: str, options: dict[str, Any]) -> None:
        """Hook: a run opened by :meth:`start_run` has started (``options`` are its kwargs)."""

    def _on_run_end(self, run_id: str, status: str) -> None:
        """Hook: a run is about to end with ``status`` (FINISHED, FAILED, KILLED)."""

    def _on_close(self, timeout: float) -> None:
        """Hook: the client is closing; finish background work within ``timeout`` s."""
