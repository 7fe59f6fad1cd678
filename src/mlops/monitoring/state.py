"""Per-project monitoring state: the check counter and the Evidently project id.

Kept in ``<workspace>/monitoring/state.json``. Updates hold an exclusive
``fcntl`` lock on a side file, so two processes checking the same project
never hand out the same check number.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["MonitoringState"]


class MonitoringState:
    """Read and update ``state.json`` in ``folder``.

    Example:
        >>> state = MonitoringState(Path("/tmp/ws/monitoring"))  # doctest: +SKIP
        >>> with state.update() as data:                          # doctest: +SKIP
        ...     data["checks"] = data.get("checks", 0) + 1
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / "state.json"
        self._lock_path = folder / "state.lock"

    def read(self) -> dict[str, Any]:
        """The current state (empty when no check ran yet)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Yield the state under an exclusive lock; write it back when the block succeeds."""
        with self._lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self.read()
                yield data
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2))
                tmp.replace(self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
