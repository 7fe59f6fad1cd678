"""Delivering the write-ahead log to the tracking store: the agent's (and sync's) work.

Each segment is read from its acknowledged offset; runs logged offline are
created first (their parents before them); points go in ``log_batch`` calls of
``telemetry.batch_size`` (several in flight to a server), events one by one,
in file order. After each delivered stretch the offset is acknowledged.

Failures: a connection problem or timeout backs off behind the circuit breaker
(nothing is lost, nothing skipped). A record the store rejects for good is set
aside **alone** (a failing batch is split until the bad point is found) in
``wal/dead/<run>/<segment>.jsonl`` with the reason; the rest is delivered. A
segment whose run is gone from the server is set aside whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidInputError, MLOpsClientError, NotFoundError
from mlops.telemetry import runs
from mlops.telemetry.breaker import CircuitBreaker
from mlops.telemetry.wal import (
    DETACHED,
    Entry,
    Event,
    Point,
    PointCounter,
    acked_on_disk,
    detached_path,
    pending_in,
    read_ack,
    read_entries,
    store_segments,
    write_ack,
)

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.tracking._mlflow import MLflowTracker

__all__ = ["Deliverer"]

log = logging.getLogger("mlops.telemetry")
_READ_RECORDS = 20_000  # records read from one segment per step
_SET_ASIDE_SHOWN = 20  # reasons kept in the published state


@dataclass
class _Cursor:
    """One segment being delivered."""

    path: Path
    ack_fd: int
    acked: int
    lock_fd: int | None = None  # held once its writer is gone (an orphan we adopted)
    saw_end: bool = False

    @property
    def orphan(self) -> bool:
        return self.lock_fd is not None

    def close(self) -> None:
        for fd in (self.ack_fd, self.lock_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


@dataclass
class _Tally:
    delivered_points: int = 0
    delivered_events: int = 0
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    set_aside_count: int = 0
    acked_bytes: int = 0  # every acknowledgement: delivered, set aside, a torn tail dropped


class Deliverer:
    """Delivers one project's log for one tracking store.

    Args:
        settings: The project's settings (tracking store, telemetry options).
        wal_dir: ``<workspace>/wal``.
        key: The store's key (:func:`mlops.telemetry.agent.store_key`): runs of
            other stores are left to their own agent.
        tracker: Builds the MLflow adapter (default: from ``settings``).
    """

    def __init__(
        self,
        settings: Settings,
        wal_dir: Path,
        key: str,
        tracker: Callable[[], MLflowTracker] | None = None,
    ) -> None:
        self.settings, self.wal_dir, self.key = settings, wal_dir, key
        self.options = settings.telemetry
        self._make_tracker = tracker or self._default_tracker
        self._tracker: MLflowTracker | None = None
        self.breaker = CircuitBreaker(self.options.breaker_failures, 0.5, self.options.max_backoff)
        self._cursors: dict[Path, _Cursor] = {}
        self._counter = PointCounter()
        self.tally = _Tally()
        self.last_delivery: float | None = None
        self._remote = settings.tracking_uri.startswith(("http://", "https://"))
        workers = max(1, self.options.concurrency) if self._remote else 1
        self._pool = ThreadPoolExecutor(workers, "mlops-delivery") if workers > 1 else None
        self._workers = workers

    def _default_tracker(self) -> MLflowTracker:
        from mlops.tracking._mlflow import MLflowTracker, configure_http_bounds

        # A batch of 1,000 points on a busy server can take seconds: not the interactive bound.
        configure_http_bounds(self.options.request_timeout, raise_timeout=True)
        return MLflowTracker(self.settings)

    @property
    def tracker(self) -> MLflowTracker:
        if self._tracker is None:
            self._tracker = self._make_tracker()
        return self._tracker

    # -- one pass over the log ----------------------------------------------------------

    def step(self, deadline: float | None = None) -> dict[str, Any]:
        """Deliver what can be delivered now; the state afterwards.

        ``worked``: something was acknowledged; ``live``: segments a running writer
        process still holds (counted even while the server is away).
        """
        acked, points = self.tally.acked_bytes, self.tally.delivered_points
        t0 = time.monotonic()
        segments = self._segments()
        for gone in set(self._cursors) - set(segments):  # removed by their writer
            self._forget(self._cursors[gone])
        for path in segments:
            if self.breaker.is_open or (deadline is not None and time.monotonic() >= deadline):
                break
            cursor = self._cursor(path)
            if cursor is None:
                continue
            try:
                self._deliver(cursor)
            except MLOpsClientError as err:
                self._failed(err)
                break
            except FileNotFoundError:
                if path.exists():
                    raise
                # Its writer removed it between our listing and our read: a writer
                # removes a segment only once all of it is acknowledged.
                self._forget(cursor)
                continue
            self._maybe_finish(cursor)
        seconds = time.monotonic() - t0
        state = self._state(self.tally.delivered_points - points, seconds, self._live(segments))
        state["worked"] = self.tally.acked_bytes > acked
        return state

    def pause(self, interval: float) -> float:
        """How long to wait before the next step: the breaker's pause, else ``interval``."""
        if self.breaker.is_open:
            return max(0.05, self.breaker.open_until - time.monotonic())
        return interval

    def _live(self, segments: list[Path]) -> int:
        """How many of ``segments`` a running writer process holds (by their locks)."""
        live = 0
        for path in segments:
            cursor = self._cursors.get(path)
            if cursor is None:
                live += _held_by_writer(path)
                continue
            if cursor.lock_fd is None:  # its writer may have gone since: adopt it now
                cursor.lock_fd = _try_lock(path)
            live += not cursor.orphan
        return live

    def _segments(self) -> list[Path]:
        return store_segments(self.wal_dir, self.key)

    def _cursor(self, path: Path) -> _Cursor | None:
        cursor = self._cursors.get(path)
        if cursor is None:
            opened = _open_ack(path)
            if opened is None:
                return None
            ack_fd, lock_fd = opened
            cursor = self._cursors[path] = _Cursor(path, ack_fd, read_ack(ack_fd), lock_fd)
        if cursor.lock_fd is None:
            cursor.lock_fd = _try_lock(path)
        return cursor

    def _failed(self, err: MLOpsClientError) -> None:
        pause = self.breaker.record_failure(str(err))
        failures = self.breaker.consecutive_failures
        level = logging.WARNING if failures in (1, 10, 100, 1000) else logging.DEBUG
        log.log(
            level, "mlops: delivery failed (%s); retry in %.1f s; data kept on disk", err, pause
        )

    # -- one segment --------------------------------------------------------------------

    def _deliver(self, cursor: _Cursor) -> None:
        run_dir = cursor.path.parent
        run_id = self._server_run_id(run_dir)
        if run_id is None:
            return  # its (offline) parent is not on the server yet
        entries = read_entries(cursor.path, cursor.acked, _READ_RECORDS)
        if not entries and cursor.orphan:
            self._drop_torn_tail(cursor)
            return
        i = 0
        while i < len(entries):
            if isinstance(entries[i].record, Point):
                j = i
                while j < len(entries) and isinstance(entries[j].record, Point):
                    j += 1
                if not self._points(cursor, run_id, entries[i:j]):
                    return
                i = j
            else:
                self._event(cursor, run_id, run_dir, entries[i])
                i += 1

    def _drop_torn_tail(self, cursor: _Cursor) -> None:
        """Bytes after a dead writer's last whole line: a write its crash cut short.

        Its logging call never returned, so nothing acknowledged is in it: it is
        kept in ``dead/`` for inspection, not counted as rejected, and skipped.
        """
        size = cursor.path.stat().st_size
        if size <= cursor.acked:
            return
        with open(cursor.path, "rb") as fh:
            fh.seek(cursor.acked)
            tail = fh.read(300).decode("utf-8", "replace")
        item = {"torn": tail, "reason": "a write cut short when its process died"}
        self._dead_letter(cursor, item, counted=False)
        self._ack(cursor, size)

    def _points(self, cursor: _Cursor, run_id: str, entries: Sequence[Entry]) -> bool:
        """Deliver a stretch of points; False when the segment was set aside."""
        size = self.options.batch_size
        batches = [entries[k : k + size] for k in range(0, len(entries), size)]
        for start in range(0, len(batches), self._workers):
            group = batches[start : start + self._workers]
            outcomes = self._send_all(run_id, group)
            for batch, outcome in zip(group, outcomes, strict=True):
                if outcome is not None and not isinstance(outcome, InvalidInputError):
                    raise outcome  # transient: acknowledged so far stays acknowledged
                if outcome is not None and not self._bisect(cursor, run_id, batch):
                    return False
                self.tally.delivered_points += len(batch)
                self._ack(cursor, batch[-1].end)
        return True

    def _send_all(self, run_id: str, group: list[Sequence[Entry]]) -> list[MLOpsClientError | None]:
        if self._pool is None or len(group) == 1:
            return [self._send(run_id, batch) for batch in group]
        return list(self._pool.map(lambda b: self._send(run_id, b), group))

    def _send(self, run_id: str, batch: Sequence[Entry]) -> MLOpsClientError | None:
        points = [(p.key, p.value, p.timestamp, p.step) for p in _points_of(batch)]
        try:
            self.tracker.log_metric_batch(run_id, points)
        except MLOpsClientError as err:
            return err
        self._succeeded()
        return None

    def _bisect(self, cursor: _Cursor, run_id: str, batch: Sequence[Entry]) -> bool:
        """A rejected batch: set aside only the points rejected; False when the run is gone."""
        if not self.tracker.run_is_active(run_id):
            self._set_aside_segment(cursor, f"run {run_id} is gone from the tracking store")
            return False
        if len(batch) == 1:
            err = self._send(run_id, batch)
            if err is not None:
                if not isinstance(err, InvalidInputError):
                    raise err
                self._set_aside(cursor, batch[0], str(err))
            return True
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            err = self._send(run_id, half)
            if err is not None:
                if not isinstance(err, InvalidInputError):
                    raise err
                if not self._bisect(cursor, run_id, half):
                    return False
        return True

    def _event(self, cursor: _Cursor, run_id: str, run_dir: Path, entry: Entry) -> None:
        event = entry.record
        assert isinstance(event, Event)
        try:
            self._apply(run_id, run_dir, event)
        except InvalidInputError as err:
            self._set_aside(cursor, entry, str(err))
        else:
            self._succeeded()
            self.tally.delivered_events += 1
        if event.kind == "end":
            cursor.saw_end = True
        self._ack(cursor, entry.end)

    def _apply(self, run_id: str, run_dir: Path, event: Event) -> None:
        tracker, data = self.tracker, event.data
        if event.kind == "params":
            tracker.log_params(run_id, data["params"])
        elif event.kind == "tags":
            tracker.set_tags(run_id, data["tags"])
        elif event.kind == "datasets":
            tracker.log_datasets(run_id, data["datasets"])
        elif event.kind == "artifact":
            path = run_dir / data["path"]
            tracker.log_artifact(run_id, path, data.get("artifact_path"), data["directory"])
        elif event.kind == "model":  # the event's own id: a replay finds what it made
            tracker.log_saved_model(
                run_id,
                run_dir / data["path"],
                data["name"],
                data.get("registered_model_name"),
                event_id=f"{run_dir.name}/{data['path']}",
            )
        elif event.kind == "end":
            tracker.end_run(run_id, data["status"], data.get("end_time"))
        else:
            raise InvalidInputError(f"unreadable record in the log ({event.kind}): {data}")

    def _ack(self, cursor: _Cursor, offset: int) -> None:
        if offset > cursor.acked:
            write_ack(cursor.ack_fd, offset)
            self.tally.acked_bytes += offset - cursor.acked
            cursor.acked = offset

    def _succeeded(self) -> None:
        self.breaker.record_success()
        self.last_delivery = time.time()

    # -- offline runs -------------------------------------------------------------------

    def _server_run_id(self, run_dir: Path) -> str | None:
        mapped = runs.server_id(run_dir)
        if mapped is not None:
            return mapped
        info = runs.offline_info(run_dir)
        if info is None:
            return run_dir.name  # created online: the id is the server's
        tags = dict(info["tags"])
        parent = tags.get("mlflow.parentRunId")
        if parent and (self.wal_dir / parent).is_dir():
            parent_id = self._server_run_id(self.wal_dir / parent)
            if parent_id is None:
                return None
            tags["mlflow.parentRunId"] = parent_id
        local = run_dir.name
        found = self.tracker.find_run_by_tag(runs.LOCAL_RUN_TAG, local)
        created = found or self.tracker.create_run_as(
            info.get("run_name"), int(info["start_time"]), tags, info.get("experiment")
        )
        runs.set_server_id(run_dir, created)
        log.info("mlops: offline run %s is run %s on the server", local, created)
        return created

    # -- set aside, finish --------------------------------------------------------------

    def _set_aside(self, cursor: _Cursor, entry: Entry, reason: str) -> None:
        record = entry.record
        shown = (
            record._asdict() if isinstance(record, Point) else {"event": record.kind, **record.data}
        )
        self._dead_letter(cursor, {"record": shown, "reason": reason})
        self._ack(cursor, entry.end)

    def _set_aside_segment(self, cursor: _Cursor, reason: str) -> None:
        folder = self.wal_dir / "dead" / cursor.path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cursor.path, folder / cursor.path.name)
        self._dead_letter(cursor, {"segment": cursor.path.name, "from_offset": cursor.acked,
                                   "reason": reason})  # fmt: skip
        self._ack(cursor, cursor.path.stat().st_size)

    def _dead_letter(self, cursor: _Cursor, item: dict[str, Any], counted: bool = True) -> None:
        folder = self.wal_dir / "dead" / cursor.path.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        item = {"run": cursor.path.parent.name, "at": int(time.time() * 1000), **item}
        name = f"{cursor.path.stem}.{'jsonl' if counted else 'torn'}"
        with open(folder / name, "a") as fh:
            fh.write(json.dumps(item, default=str) + "\n")
        if not counted:
            return
        self.tally.set_aside_count += 1
        self.tally.set_aside = [*self.tally.set_aside, item][-_SET_ASIDE_SHOWN:]
        log.error("mlops: the tracking store rejected a record of run %s: %s", item["run"],
                  item["reason"])  # fmt: skip

    def _maybe_finish(self, cursor: _Cursor) -> None:
        """An orphan delivered to its end: end its run if it was left RUNNING; remove it."""
        if not cursor.orphan:
            return
        try:
            size = cursor.path.stat().st_size
        except FileNotFoundError:
            self._forget(cursor)
            return
        if cursor.acked < size:
            return
        run_dir = cursor.path.parent
        others = [p for p in run_dir.glob("*.wal") if p != cursor.path]
        if not cursor.saw_end and not others and not cursor.path.name.endswith(DETACHED):
            self._end_crashed_run(run_dir)
        for p in (cursor.path, cursor.path.with_suffix(".ack")):
            p.unlink(missing_ok=True)
        if not others:
            shutil.rmtree(run_dir / "staged", ignore_errors=True)
            (run_dir / "store").unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # an offline run keeps its id mapping
        self._forget(cursor)

    def _end_crashed_run(self, run_dir: Path) -> None:
        """A dead process's run that never ended is marked KILLED once its data is in."""
        run_id = self._server_run_id(run_dir)
        if run_id is None:
            return
        try:
            if self.tracker.run_status(run_id) == "RUNNING":
                self.tracker.end_run(run_id, "KILLED")
        except NotFoundError:
            pass  # nothing to end
        except MLOpsClientError as exc:  # the data is in; ending the run is best effort
            log.warning("mlops: could not mark orphaned run %s ended: %s", run_id, exc)

    def _forget(self, cursor: _Cursor) -> None:
        cursor.close()
        self._cursors.pop(cursor.path, None)

    # -- state --------------------------------------------------------------------------

    def _state(self, points: int, seconds: float, live: int) -> dict[str, Any]:
        """The published state; ``points`` were delivered in the last ``seconds``."""
        segments = self._segments()

        def acked(path: Path) -> int:
            cursor = self._cursors.get(path)
            return cursor.acked if cursor else acked_on_disk(path)

        pending = pending_in(segments, acked, self._counter)
        self._counter.keep_only(set(segments))
        offline = self.breaker.consecutive_failures > 0
        return {
            "state": "offline" if offline else "online",
            "pending_records": pending["bytes"],
            "pending_points": pending["points"],
            "pending_runs": len(pending["runs"]),
            "live": live,
            "delivered_points": self.tally.delivered_points,
            "delivered_events": self.tally.delivered_events,
            "set_aside": self.tally.set_aside_count,
            "set_aside_reasons": [i["reason"] for i in self.tally.set_aside],
            "rate": round(points / seconds, 1) if seconds > 0 and points else 0.0,
            "last_error": self.breaker.last_error,
            "last_delivery": self.last_delivery,
            "updated": time.time(),
        }

    def close(self) -> None:
        """Release every segment and the worker threads."""
        for cursor in list(self._cursors.values()):
            cursor.close()
        self._cursors.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _points_of(batch: Sequence[Entry]) -> list[Point]:
    return [e.record for e in batch if isinstance(e.record, Point)]


def _try_lock(path: Path) -> int | None:
    """An fd holding the segment's lock if its writer is gone, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _open_ack(path: Path) -> tuple[int, int | None] | None:
    """The fds of a listed segment's ``.ack`` file and, if we took it, of its lock.

    A writer makes the ``.ack`` before its segment becomes visible and moves or
    removes it first, so a listed segment without one is being detached or removed
    by its writer: None, look again next step (creating it would start an empty
    one, and deliver the segment again from its start). Only a segment no writer
    holds may be given a new one.
    """
    ack = path.with_suffix(".ack")
    try:
        return os.open(ack, os.O_RDWR), None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    lock_fd = _try_lock(path)
    if lock_fd is None:
        return None
    detached = detached_path(path)
    if not path.name.endswith(DETACHED) and detached.with_suffix(".ack").exists():
        # Its writer died between the two renames of a detach: finish it (the moved
        # .ack holds the offset); the next step lists the segment under its new name.
        with contextlib.suppress(OSError):
            os.rename(path, detached)
        os.close(lock_fd)
        return None
    try:
        return os.open(ack, os.O_RDWR | os.O_CREAT, 0o644), lock_fd
    except OSError:
        os.close(lock_fd)
        return None


def _held_by_writer(path: Path) -> bool:
    """True while a writer process holds ``path``'s lock (False once it is gone)."""
    fd = _try_lock(path)
    if fd is not None:
        os.close(fd)  # its writer is gone; a cursor adopts it when it delivers
        return False
    return path.exists()
