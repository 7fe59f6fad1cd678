"""How the facade talks to a tracking server that may be away: bounded calls, offline runs.

A call that needs the server (creating a run, params, tags, dataset inputs) waits at
most ``tracking.offline_after`` seconds on a remote store; when it cannot get an
answer the run goes on offline: the call is logged to the write-ahead log instead,
and the agent delivers it, in order, when the server answers again. After a
failure the link stays down for a while, so later calls do not wait again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from mlops.config import Settings
from mlops.errors import ConnectionFailedError, OperationTimeoutError, redact

__all__ = ["TrackingLink", "bounded"]

log = logging.getLogger("mlops.tracking")
T = TypeVar("T")
_RETRY_AFTER = 15.0  # seconds a down link is trusted before it is probed again


def bounded(call: Callable[[], T], timeout: float, what: str) -> T:
    """``call()`` in a worker thread, waiting at most ``timeout`` seconds for it.

    Raises:
        OperationTimeoutError: no answer in time (the call may still complete later).
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"mlops-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise OperationTimeoutError(
            f"the tracking server did not answer {what} within {timeout:g} s",
            component="tracking",
            operation=what,
            hint="raise tracking.offline_after if the server is slow rather than away",
        )
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


class TrackingLink:
    """Whether the project's tracking server answers, remembered between calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.remote = settings.tracking_uri.startswith(("http://", "https://"))
        self.mode = settings.tracking.offline
        self._down_until = 0.0
        self._warned = False
        self.reason: str | None = None

    @property
    def can_go_offline(self) -> bool:
        """True when an unreachable server means offline (not an error)."""
        return self.remote and self.mode != "never"

    def usable(self) -> bool:
        """False when calls should not even try the server now."""
        if not self.can_go_offline:
            return True
        if self.mode == "always":
            self.reason = "tracking.offline = always"
            return False
        if time.monotonic() < self._down_until:
            return False
        from mlops.tracking._http import probe_server

        problem = probe_server(self.settings.tracking_uri, self.settings.tracking.offline_after)
        if problem is not None and not problem.startswith(("HTTP 401", "HTTP 403")):
            self.down(problem)
            return False
        return True

    def call(self, call: Callable[[], T], what: str) -> T:
        """``call()`` bounded by ``tracking.offline_after`` on a remote store.

        Raises:
            ConnectionFailedError: the server is away (the link is marked down).
        """
        if not self.can_go_offline:
            return call()
        try:
            return bounded(call, self.settings.tracking.offline_after, what)
        except ConnectionFailedError as err:
            self.down(str(err))
            raise

    def down(self, reason: str) -> None:
        """The server did not answer: stay offline for a while."""
        self._down_until = time.monotonic() + _RETRY_AFTER
        self.reason = redact(reason)

    def warn_offline(self, run_id: str, wal_dir: str, sync_command: str) -> None:
        """One warning per client: the run goes on offline."""
        if self._warned:
            return
        self._warned = True
        log.warning(
            "mlops: the tracking server %s cannot be reached (%s); run %s is logged "
            "offline in %s and delivered when the server answers again (or `%s`)",
            redact(self.settings.tracking_uri),
            self.reason or "no answer",
            run_id,
            wal_dir,
            sync_command,
        )
