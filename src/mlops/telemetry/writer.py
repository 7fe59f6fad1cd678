"""The training process's side of telemetry: append to the log, never deliver.

``submit`` validates nothing (the facade did) and does one ``write(2)`` to the
run's segment; delivery happens in a separate process (:mod:`.agent`), so the
training loop never competes with MLflow's and SQLAlchemy's Python for the
interpreter lock. The writer makes sure an agent runs (it starts one on demand)
and wakes it when a batch is ready; waits for delivery (a run's end, ``flush``,
interpreter exit) only read acknowledgement files, so they cost no network call
and are bounded by ``telemetry.flush_timeout`` all together.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import MLOpsClientError
from mlops.telemetry import agent
from mlops.telemetry.wal import (
    DETACHED,
    Segment,
    detached_path,
    encode_event,
    encode_points,
    writer_id,
)

if TYPE_CHECKING:
    from mlops.config import Settings

__all__ = ["SEGMENT_BYTES", "WalWriter"]

log = logging.getLogger("mlops.telemetry")
SEGMENT_BYTES = 64 * 1024 * 1024
_CHECK_AGENT_EVERY = 2.0  # seconds between the hot path's looks at the agent
_POLL = 0.02  # seconds between looks at the acknowledgement files while waiting
_monotonic = time.monotonic


class WalWriter:
    """Append-only logging of one project's runs, delivered by the project's agent.

    Args:
        settings: The project's settings (the agent gets them through its environment).
        wal_dir: ``<workspace>/wal``.
        mlops_command: How to tell the user to sync (for messages).
    """

    def __init__(self, settings: Settings, wal_dir: Path, mlops_command: Callable[..., str]):
        self.settings = settings
        self.options = settings.telemetry
        self.wal_dir = wal_dir
        self._cmd = mlops_command
        self._writer = writer_id()
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._open: dict[str, Segment] = {}  # the segment each run appends to
        self._segments: list[Segment] = []  # every segment this process wrote and keeps
        self._ended: set[str] = set()
        self._offline: set[str] = set()  # runs nobody waits for: their server is away
        self._unacked_estimate = 0
        self._max_bytes = int(self.options.max_log_mb * 1024 * 1024)
        self._since_wake = 0
        self._batch_size = self.options.batch_size
        self._next_look = 0.0
        self._agent = agent.AgentLink(settings, wal_dir)
        self._stalled_at: float | None = None  # a wait ran out with no progress
        self._end_waited = 0.0  # seconds the last run end waited in vain: exit waits the rest
        self._closed = False
        _register_exit(self)

    # -- hot path -----------------------------------------------------------------------

    def submit(self, run_id: str, points: list[tuple[str, float]], step: int, ts: int) -> None:
        """Append ``points`` to the run's segment in one write; wake the agent per batch."""
        data = encode_points(points, step, ts)
        size = len(data)
        lock = self._lock
        lock.acquire()  # acquire/release: half the cost of `with` on this path
        try:
            segment = self._open.get(run_id) or self._open_segment(run_id)
            if self._unacked_estimate + size > self._max_bytes:
                self._check_room(size)
            if segment.append(data) >= SEGMENT_BYTES:
                self._open.pop(run_id, None)
            self._unacked_estimate += size
            self._since_wake += len(points)
            wake = self._since_wake >= self._batch_size
            if wake:
                self._since_wake = 0
        finally:
            lock.release()
        now = _monotonic()
        if wake or now >= self._next_look:
            self._next_look = now + _CHECK_AGENT_EVERY
            self._agent.wake()

    def mark_offline(self, run_id: str) -> None:
        """Run ``run_id`` is offline: leaving it and closing do not wait for its delivery."""
        self._offline.add(run_id)

    def event(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        """Append a params/tags/datasets/artifact/model event to the run's log."""
        line = encode_event(kind, data)
        with self._lock:
            segment = self._open.get(run_id) or self._open_segment(run_id)
            segment.append(line)
            self._unacked_estimate += len(line)
        self._agent.wake()

    def _open_segment(self, run_id: str) -> Segment:
        segment = Segment.create(self.wal_dir, run_id, self._writer, next(self._seq))
        self._agent.mark_run(run_id)
        self._open[run_id] = segment
        self._segments.append(segment)
        return segment

    def _check_room(self, size: int) -> None:
        """Refresh what was acknowledged; raise if the backlog is still over the limit."""
        self._unacked_estimate = sum(s.written - s.refresh() for s in self._segments)
        if self._unacked_estimate + size > self._max_bytes:
            raise MLOpsClientError(
                f"{self._unacked_estimate / 1e6:.0f} MB of metric points are waiting for the "
                f"tracking store, the limit (telemetry.max_log_mb = {self.options.max_log_mb:g})"
                "; the point was not logged",
                component="telemetry",
                operation="log_metrics",
                details={"last_error": self._agent.last_error()},
                hint=f"bring the tracking server back, run `{self._cmd('sync')}`, "
                "or raise telemetry.max_log_mb",
            )

    # -- ends, flushes ------------------------------------------------------------------

    def finish_run(self, run_id: str, status: str, timeout: float) -> bool:
        """Log the run's end and wait (bounded) until all of it is stored; True if it was."""
        end = {"status": status, "end_time": int(time.time() * 1000)}
        with self._lock:
            segment = self._open.pop(run_id, None) or self._open_segment(run_id)
            self._open.pop(run_id, None)
            segment.append(encode_event("end", end))
            self._ended.add(run_id)
        self._agent.wake()
        if run_id in self._offline:
            return False
        mine = [s for s in self._segments if s.run_id == run_id]
        started = time.monotonic()
        if self._wait(mine, timeout):
            self._end_waited = 0.0
            with self._lock:  # delivered and ended: nothing more to watch
                for segment in mine:
                    self._segments.remove(segment)
                    segment.close(delete=True)
                _tidy(self.wal_dir / run_id)
            return True
        # Delivery may still be moving (then the stall rule below does not apply): the
        # interpreter's exit gets only what is left of this bound.
        self._end_waited = time.monotonic() - started
        self._say_pending(run_id, mine)
        return False

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) until everything this process logged is stored (offline runs
        are not waited for: they are delivered when their server is back)."""
        self._agent.wake()
        online = [s for s in self._segments if s.run_id not in self._offline]
        return self._wait(online, timeout) and len(online) == len(self._segments)

    def pending_points(self) -> int:
        """Bytes this process logged that the store has not acknowledged yet."""
        return sum(s.written - s.refresh() for s in self._segments)

    def _wait(self, segments: list[Segment], timeout: float) -> bool:
        """Poll acknowledgements until ``segments`` are delivered or the bound runs out.

        The agent is asked to retry at once. When it reports the server away and
        delivers nothing within a short grace, the wait ends early. A wait that
        ran out without progress makes later waits of this process return at
        once (until something is delivered again); one that ran out with
        progress leaves the interpreter's exit only the rest of its bound:
        leaving a run and exiting the interpreter stay within one
        ``flush_timeout`` together either way.
        """
        left = [s for s in segments if s.refresh() < s.written]
        if not left:
            return True
        if self._stalled_at is not None and not self._agent.progressed_since(self._stalled_at):
            return False
        now = time.monotonic()
        deadline = now + max(0.0, timeout)
        grace = now + min(timeout, self.settings.tracking.offline_after + 1.0)
        before = sum(s.acked for s in left)
        self._agent.wake(urgent=True)
        while True:
            left = [s for s in left if s.refresh() < s.written]
            if not left:
                self._stalled_at = None
                return True
            now = time.monotonic()
            moved = sum(s.acked for s in left) != before
            given_up = now >= grace and not moved and self._agent.offline()
            if now >= deadline or given_up:
                if not moved:
                    self._stalled_at = time.time()
                return False
            self._agent.ensure()
            time.sleep(_POLL)

    def _say_pending(self, run_id: str, segments: list[Segment]) -> None:
        left = sum(s.written - s.acked for s in segments)
        log.warning(
            "run %s: %d bytes of its log are not in the tracking store yet (%s); they are "
            "kept in %s and delivered in the background (the delivery process keeps trying "
            "for telemetry.agent_linger = %g s after the last process logging here ends), "
            "or by `%s`",
            run_id,
            left,
            self._agent.last_error() or "delivery still running",
            self.wal_dir,
            self.options.agent_linger,
            self._cmd("sync", "-p", self.settings.project, "--repo-root", self.settings.root),
        )

    def close(self, timeout: float) -> bool:
        """Flush (bounded), then release every segment. Undelivered data stays on disk."""
        if self._closed:
            return True
        ok = self.flush(timeout) if self._segments else True
        with self._lock:
            self._closed = True
            for segment in self._segments:
                _release(segment, ended=segment.run_id in self._ended)
            self._segments.clear()
            self._open.clear()
        self._agent.close()
        return ok


def _release(segment: Segment, ended: bool) -> None:
    """Close a segment: delivered ones go; a run left open on purpose is marked so.

    A run whose writer closed without ending it (the monitoring run, a run fed
    with ``_submit_metrics``) must not be marked KILLED by the agent later.
    """
    delivered = segment.refresh() >= segment.written
    if delivered:
        segment.close(delete=True)
        return
    if not ended and not segment.path.name.endswith(DETACHED):
        target = detached_path(segment.path)
        try:
            segment.path.with_suffix(".ack").rename(target.with_suffix(".ack"))
            segment.path.rename(target)
        except OSError:
            pass  # the agent removed it meanwhile: it was delivered
    segment.close(delete=False)


def _tidy(run_dir: Path) -> None:
    """Remove a delivered run's folder (an offline run keeps its id mapping)."""
    if any(run_dir.glob("*.wal")):
        return
    (run_dir / "store").unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        pass


_writers: weakref.WeakSet[WalWriter] = weakref.WeakSet()


def _register_exit(writer: WalWriter) -> None:
    if not _writers:
        atexit.register(_close_at_exit)
    _writers.add(writer)


def _close_at_exit() -> None:
    """At interpreter exit: deliver what can be within the bound, keep the rest on disk."""
    for writer in list(_writers):
        if writer._closed or not writer._segments:
            continue
        # Leaving the last run and exiting share one bound, even while delivery moves.
        ok = writer.flush(max(0.0, writer.options.flush_timeout - writer._end_waited))
        left = writer.pending_points()
        writer.close(0)
        if not ok and left:
            print(  # logging may already be shut down
                f"mlops: {left} bytes of metric data are pending in {writer.wal_dir}; they "
                f"are delivered in the background (for up to telemetry.agent_linger = "
                f"{writer.options.agent_linger:g} s from now), or run "
                f"`{writer._cmd('sync', '-p', writer.settings.project)}`",
                file=sys.stderr,
            )
