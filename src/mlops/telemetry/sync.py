"""``mlops sync`` / ``client.sync()``: deliver a project's whole log, in the foreground.

When no agent runs for the store, this process becomes the agent until the log
is drained (or forever with ``watch``). When one runs, it is woken and waited
for: two deliverers never work on one log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.telemetry.agent import AgentLink, agent_files, agent_lock, read_status, run_agent
from mlops.telemetry.agent import store_key as _store_key
from mlops.telemetry.wal import iter_segments, read_ack

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
    """Deliver everything of ``settings``' store in ``wal_dir``; the final state."""
    key = _store_key(settings)
    segments = len(_own_segments(wal_dir, key))
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
        else:
            state = _wait_for_agent(settings, wal_dir, key, timeout, progress)
    pending = pending_on_disk(wal_dir, key)
    return {
        **state,
        "segments": segments,
        "pending": pending["bytes"],
        "pending_runs": len(pending["runs"]),
        "pending_run_ids": pending["runs"],
        "complete": int(pending["bytes"] == 0),
    }


def _wait_for_agent(
    settings: Settings, wal_dir: Path, key: str, timeout: float, progress: Progress | None
) -> dict[str, Any]:
    link = AgentLink(settings, wal_dir)
    status_file = agent_files(wal_dir, key)["status"]
    deadline = time.monotonic() + timeout
    counters = ("delivered_points", "delivered_events", "set_aside")
    start = read_status(status_file)
    try:
        while True:
            link.wake(urgent=True)
            state = read_status(status_file)
            pending = pending_on_disk(wal_dir, key)
            state.update(pending_records=pending["bytes"], pending_runs=len(pending["runs"]))
            # The agent's counters run since it started: report what happened meanwhile.
            state.update({k: int(state.get(k) or 0) - int(start.get(k) or 0) for k in counters})
            if progress is not None:
                progress(state)
            if pending["bytes"] == 0 or time.monotonic() >= deadline:
                return state
            time.sleep(0.2)
    finally:
        link.close()


def _own_segments(wal_dir: Path, key: str) -> list[Path]:
    out = []
    for path in iter_segments(wal_dir):
        try:
            owner = (path.parent / "store").read_text().strip()
        except OSError:
            owner = key
        if owner == key:
            out.append(path)
    return out


def pending_on_disk(wal_dir: Path, key: str | None = None) -> dict[str, Any]:
    """Bytes not yet acknowledged and the runs they belong to (``key``: one store only)."""
    total, runs = 0, set()
    for path in iter_segments(wal_dir) if key is None else _own_segments(wal_dir, key):
        try:
            size = path.stat().st_size
            ack = path.with_suffix(".ack")
            with open(ack, "rb") as fh:
                acked = read_ack(fh.fileno())
        except FileNotFoundError:
            acked = 0
            if not path.exists():
                continue
            size = path.stat().st_size
        if size > acked:
            total += size - acked
            runs.add(path.parent.name)
    return {"bytes": total, "runs": sorted(runs)}
