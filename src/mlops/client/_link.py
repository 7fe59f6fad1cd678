"""How the facade talks to a tracking server that may be away: bounded calls, offline runs.

``start_run`` first checks that the server can be reached at all: name resolution
and a TCP connection within ``tracking.connect_after`` seconds (0.4 s). A call that
needs the server (the health probe, creating a run, params, tags, dataset inputs)
then waits at most ``tracking.offline_after`` seconds; when it cannot get an answer the run
goes on offline: the call is logged to the write-ahead log instead, and the agent
delivers it, in order, when the server answers again. After a failure the link
stays down for a while, so later calls do not wait again. The link also remembers
which server run a local (offline) run id became.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from mlops.config import Settings
from mlops.errors import ConnectionFailedError, MLOpsClientError, OperationTimeoutError, redact

__all__ = ["TrackingLink", "bounded"]

log = logging.getLogger("mlops.tracking")
T = TypeVar("T")
_RETRY_AFTER = 15.0  # seconds a down link is trusted before it is probed again
_MISS_KEPT = 60.0  # seconds "no run has this local id" is trusted (it may be synced later)


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
        self._ids: dict[str, tuple[str, float | None]] = {}  # run id -> (server's, until)

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
        from mlops.tracking import _http  # urllib: imported here, not with the client

        uri, options = self.settings.tracking_uri, self.settings.tracking
        reach, bound = min(options.connect_after, options.offline_after), options.offline_after
        # First the network (a server that cannot be reached fails within connect_after),
        # then the server itself (one that was reached but hangs fails within offline_after).
        problem = _checked(lambda: _http.reach_server(uri, reach), reach, "connect")
        if problem is None:
            problem = _checked(lambda: _http.probe_server(uri, bound), bound, "probe")
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

    # -- local run ids ----------------------------------------------------------------

    def known_id(self, run_id: str) -> str | None:
        """The server's id of ``run_id`` if this link already knows it."""
        hit = self._ids.get(run_id)
        if hit is None:
            return None
        server, until = hit
        if until is not None and time.monotonic() >= until:
            self._ids.pop(run_id, None)
            return None
        return server

    def remember(self, run_id: str, server_id: str, for_s: float | None = None) -> None:
        """``run_id`` is ``server_id`` on the server (for ``for_s`` seconds; None: for good)."""
        self._ids[run_id] = (server_id, None if for_s is None else time.monotonic() + for_s)

    def find_local_run(self, run_id: str, find: Callable[[], str | None]) -> str:
        """The server's id of the run made from local id ``run_id``, else ``run_id`` itself.

        ``find()`` searches the server (the run tag ``mlops.local_run_id``). On a remote
        store it is bounded by ``tracking.offline_after``; a server that does not answer
        leaves ``run_id`` as it is (the call that needs it reports the problem). The
        answer is remembered: a hit for good, a miss for a minute.
        """
        if time.monotonic() < self._down_until:
            return run_id
        try:
            if self.remote:
                found = bounded(find, self.settings.tracking.offline_after, "find_run")
            else:
                found = find()
        except ConnectionFailedError as err:
            if self.can_go_offline:
                self.down(str(err))
            return run_id
        except MLOpsClientError:
            return run_id
        self.remember(run_id, found or run_id, None if found else _MISS_KEPT)
        return found or run_id

    # -- the offline warning ----------------------------------------------------------

    def warn_offline(self, run_id: str, wal_dir: str, sync_command: str) -> None:
        """One warning per client: the run goes on offline, and how it gets delivered."""
        if self._warned:
            return
        self._warned = True
        if self.mode == "always":
            why = "tracking.offline = always: "
        else:
            why = f"the tracking server {redact(self.settings.tracking_uri)} cannot be reached "
            why += f"({self.reason or 'no answer'}); "
        log.warning(
            "mlops: %srun %s is logged locally in %s and delivered when the server answers "
            "again, by a delivery process that keeps trying until %s after the last process "
            "logging to this project has ended (telemetry.agent_linger); after that, %s "
            "delivers it",
            why,
            run_id,
            wal_dir,
            _duration(self.settings.telemetry.agent_linger),
            self.as_printed(sync_command),
        )

    def as_printed(self, command: str) -> str:
        """``command`` quoted for a message, so that it runs as printed: it names this
        client's tracking server when ``mlops`` in a shell would pick another store (a
        tracking URI set in code)."""
        from mlops.config import load_settings
        from mlops.tracking._http import split_credentials

        try:
            plain = load_settings(self.settings.project, self.settings.root).tracking_uri
        except MLOpsClientError:
            plain = None
        uri = self.settings.tracking_uri
        if plain == uri:
            return f"`{command}`"
        bare, user, _ = split_credentials(uri)  # never print a password
        named = f"`MLOPS_TRACKING_URI={shlex.quote(bare)} {command}`"
        if user is not None:
            named += " (with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD set)"
        return named


def _checked(check: Callable[[], str | None], bound: float, what: str) -> str | None:
    """``check()`` (None, or why the server cannot be used) in a bounded worker thread:
    socket timeouts do not cover name resolution, which waits for the resolver's own
    timeout on a node whose name server is away."""
    try:
        return bounded(check, bound, what)
    except OperationTimeoutError:
        return f"no {'connection' if what == 'connect' else 'answer'} within {bound:g} s"


def _duration(seconds: float) -> str:
    """``3600`` -> ``1 h``, ``600`` -> ``10 min``, ``45`` -> ``45 s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
