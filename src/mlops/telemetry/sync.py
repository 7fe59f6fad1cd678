"""``mlops sync`` / ``client.sync()``: deliver a project's whole log, in the foreground.

When no agent runs for the store, this process becomes the agent until the log
is drained (or forever with ``watch``). When one runs, it is woken and waited
for: two deliverers never work on one log. A watch started beside a running
agent follows it, and becomes the agent once that one exits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.telemetry.agent import (
    AgentLink,
    agent_files,
    agent_lock,
    lock_is_held,
    read_status,
    run_agent,
)
from mlops.telemetry.agent import store_key as _store_key
from mlops.telemetry.wal import PointCounter, iter_segments, pending_in, store_segments

if TYPE_CHECKING:
    from mlops.config import Settings

__all__ = ["pending_on_disk", "sync_project"]

Progress = Callable[[dict[str, Any]], None]


def sync_project(
    settings: Settings,
    wal_dir: Path,
    timeout: float,
    progress: Progress | None = None,
    watch: bool = False,
) -> dict[str, Any]:
    """Deliver everything of ``settings``' store in ``wal_dir``; the final state.

    ``timeout`` bounds the time without progress, not the whole sync: a large
    backlog that keeps moving is delivered to the end; one that stops moving
    for ``timeout`` seconds (the server away) is left pending.
    """
    key = _store_key(settings)
    segments = len(store_segments(wal_dir, key))
    while True:
        with agent_lock(wal_dir, key, wait=False) as mine:
            if mine:
                state = run_agent(
                    settings,
                    wal_dir,
                    until_drained=True,
                    timeout=None if watch else timeout,
                    watch=watch,
                    progress=progress,
                )
                break
        # Another agent delivers: follow it. A watch outlives it: it takes over the
        # log once that agent exits (idle), and keeps delivering.
        state = _wait_for_agent(settings, wal_dir, key, timeout, progress, watch=watch)
        if not watch:
            break
    pending = pending_on_disk(wal_dir, key, PointCounter())
    return {
        **state,
        "segments": segments,
        "pending": pending["bytes"],
        "pending_points": pending["points"],
        "pending_runs": len(pending["runs"]),
        "pending_run_ids": pending["runs"],
        "complete": int(pending["bytes"] == 0),
    }


_COUNTERS = ("delivered_points", "delivered_events", "set_aside")


class _AgentProgress:
    """What a running agent delivered since the wait began, across an agent's restart."""

    def __init__(self, start: dict[str, Any]) -> None:
        self.pid = start.get("pid")
        self.base = {k: int(start.get(k) or 0) for k in _COUNTERS}
        self.carried = dict.fromkeys(_COUNTERS, 0)
        self.marker = start.get("last_delivery")

    def since(self, state: dict[str, Any]) -> dict[str, int]:
        """The agent's counters, counted from the start of the wait."""
        if state.get("pid") != self.pid:  # a new agent: its counters start at zero
            self.carried = {k: self.carried[k] + self.base[k] for k in _COUNTERS}
            self.pid, self.base = state.get("pid"), dict.fromkeys(_COUNTERS, 0)
        now = {k: int(state.get(k) or 0) for k in _COUNTERS}
        self.carried = {k: self.carried[k] + now[k] - self.base[k] for k in _COUNTERS}
        self.base = now
        return dict(self.carried)

    def moved(self, state: dict[str, Any]) -> bool:
        """True when the agent delivered something since the last look."""
        marker = state.get("last_delivery")
        changed = marker is not None and marker != self.marker
        self.marker = marker
        return changed


def _wait_for_agent(
    settings: Settings,
    wal_dir: Path,
    key: str,
    timeout: float,
    progress: Progress | None,
    *,
    watch: bool = False,
) -> dict[str, Any]:
    """Wake the running agent and wait until drained, or ``timeout`` s without progress;
    ``watch``: until that agent exits (its lock is free)."""
    link = AgentLink(settings, wal_dir)
    files = agent_files(wal_dir, key)
    status_file = files["status"]
    counter = PointCounter()
    tally = _AgentProgress(read_status(status_file))
    last_progress, lowest = time.monotonic(), None
    state: dict[str, Any] = {}
    try:
        while True:
            if watch and not lock_is_held(files["lock"]):
                return state  # that agent exited: the watch takes over (no new one is woken)
            link.wake(urgent=True)
            state = read_status(status_file)
            pending = pending_on_disk(wal_dir, key, counter)
            state.update(
                pending_records=pending["bytes"],
                pending_points=pending["points"],
                pending_runs=len(pending["runs"]),
                **tally.since(state),
            )
            if progress is not None:
                progress(state)
            now = time.monotonic()
            if tally.moved(state) or lowest is None or pending["bytes"] < lowest:
                last_progress, lowest = now, pending["bytes"]
            if not watch and (pending["bytes"] == 0 or now - last_progress >= timeout):
                return state
            time.sleep(0.2)
    finally:
        link.close()


def pending_on_disk(
    wal_dir: Path, key: str | None = None, counter: PointCounter | None = None
) -> dict[str, Any]:
    """Bytes not yet acknowledged, the runs they belong to (``key``: one store only) and,
    with a ``counter``, the metric points among them (``points``)."""
    segments = iter_segments(wal_dir) if key is None else store_segments(wal_dir, key)
    return pending_in(segments, counter=counter)
