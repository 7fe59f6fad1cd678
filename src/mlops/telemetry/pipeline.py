"""TelemetryPipeline: log a point in microseconds, deliver it to MLflow in the background.

``submit`` appends the points to the run's WAL segment (one ``write(2)``) and
to an in-memory queue; a daemon thread delivers queues in ``log_batch`` calls
of up to ``batch_size`` points and acknowledges them in the WAL. Failures back
off behind a circuit breaker; points stay on disk until delivered, by this
process, by the next client of the project (orphaned segments are adopted at
start) or by ``mlops sync``.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import shutil
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidInputError, MLOpsClientError
from mlops.tags import PENDING_TAG
from mlops.telemetry.breaker import CircuitBreaker
from mlops.telemetry.wal import END, Record, Segment, encode_end, iter_segments, writer_id

if TYPE_CHECKING:
    from mlops.config import Settings, TelemetrySettings
    from mlops.tracking._mlflow import MLflowTracker
    from mlops.workspace import Workspace

__all__ = ["PENDING_TAG", "TelemetryPipeline"]

log = logging.getLogger("mlops.telemetry")
SEGMENT_BYTES = 64 * 1024 * 1024
MAX_QUEUE = 1_000_000  # points kept in memory per segment; beyond, re-read from disk
DETACHED = ".detached.wal"  # a segment its writer left with data pending, without ending the run
CATCH_UP_BYTES = 64 * 1024  # what a refill may read while holding the writers' lock
Item = tuple[
    str, float, int, int, int
]  # key, value, timestamp, step, end offset (END: status in step)


class _Stream:
    """A segment being delivered: its queue of records not yet acknowledged."""

    def __init__(self, segment: Segment, owned: bool) -> None:
        self.segment = segment
        self.owned = owned  # written by this process (vs adopted from a dead one)
        self.queue: deque[Any] = deque()
        self.spilled = False
        self.retired = not owned  # no more appends will come
        self.done = threading.Event()

    def refill(self, lock: threading.Lock) -> None:
        """Queue the records that are only on disk; called by the delivery thread on an empty queue.

        While a stream is ``spilled`` its writer appends to the file only, so the
        queue stays in file order. The last small stretch is read under the
        writer's lock, and only then does queueing resume.
        """
        start = self.segment.acked
        while True:
            end = self.segment.written
            room = MAX_QUEUE - len(self.queue)
            records, start = self.segment.read_range(start, end, room)
            self.queue.extend(_item(r) for r in records)
            if len(records) >= room:
                return  # still spilled: deliver these, then read on
            if not self.owned:
                self.spilled = False  # a dead writer appends nothing more (a torn tail is dropped)
                return
            if self.segment.written - start <= CATCH_UP_BYTES:
                break
        with lock:
            records, _ = self.segment.read_range(start, self.segment.written, MAX_QUEUE)
            self.queue.extend(_item(r) for r in records)
            self.spilled = False


def _item(rec: Record) -> Item:
    value: Any = rec.status if rec.key == END else rec.value
    return (rec.key, value, rec.timestamp, rec.step, rec.end_offset)


class TelemetryPipeline:
    """Durable, non-blocking metric delivery for one project."""

    def __init__(
        self,
        wal_dir: Path,
        tracker_factory: Callable[[], MLflowTracker],
        options: TelemetrySettings,
    ) -> None:
        self.wal_dir = wal_dir
        self.options = options
        self._tracker_factory = tracker_factory
        self._writer = writer_id()
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._progress = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writers: dict[str, _Stream] = {}
        self._streams: list[_Stream] = []
        self._pending_bytes = 0
        self._max_bytes = int(options.max_log_mb * 1024 * 1024)
        self.breaker = CircuitBreaker(options.breaker_failures, 0.5, options.max_backoff)
        self._thread = threading.Thread(target=self._run, name="mlops-telemetry", daemon=True)
        self._started = False
        _register_exit(self)

    @classmethod
    def for_client(
        cls, settings: Settings, workspace: Workspace, tracker_factory: Callable[[], MLflowTracker]
    ) -> TelemetryPipeline:
        """The pipeline of a client's project, its WAL in ``<workspace>/wal``."""
        return cls(workspace.path("wal"), tracker_factory, settings.telemetry)

    # -- producer side (hot path) -------------------------------------------------

    def submit(self, run_id: str, points: list[tuple[str, float]], step: int, ts: int) -> None:
        """Append ``points`` to the WAL (one write) and queue them for delivery."""
        if len(points) == 1:
            key, value = points[0]
            data = f"{key}\t{value!r}\t{step}\t{ts}\n".encode()
            lines = None
        else:
            lines = [f"{k}\t{v!r}\t{step}\t{ts}\n".encode() for k, v in points]
            data = b"".join(lines)
        with self._lock:
            stream = self._writers.get(run_id) or self._open_stream(run_id)
            if self._pending_bytes + len(data) > self._max_bytes:
                raise self._full_error()
            offset = stream.segment.append(data)
            self._pending_bytes += len(data)
            queue = stream.queue
            if stream.spilled or len(queue) >= MAX_QUEUE:
                stream.spilled = True
            elif lines is None:
                queue.append((key, value, ts, step, offset))
            else:
                offset -= len(data)
                for (k, v), line in zip(points, lines, strict=True):
                    offset += len(line)
                    queue.append((k, v, ts, step, offset))
            if offset >= SEGMENT_BYTES:
                self._rotate(run_id)
        if len(queue) >= self.options.batch_size:
            self._wake.set()

    def _open_stream(self, run_id: str) -> _Stream:
        if not self._started:
            self._started = True
            self._thread.start()
        stream = _Stream(Segment.create(self.wal_dir, run_id, self._writer, next(self._seq)), True)
        self._writers[run_id] = stream
        self._streams.append(stream)
        return stream

    def _rotate(self, run_id: str) -> None:
        self._writers.pop(run_id).retired = True

    def _full_error(self) -> MLOpsClientError:
        return MLOpsClientError(
            f"{self._pending_bytes / 1e6:.0f} MB of metric points are waiting for MLflow, the "
            f"limit (telemetry.max_log_mb = {self.options.max_log_mb:g}); the point was not logged",
            component="telemetry",
            operation="log_metrics",
            details={"last_error": self.breaker.last_error},
            hint="bring the tracking server back, run `mlops sync`, or raise telemetry.max_log_mb",
        )

    # -- run ends, flushes, sync ---------------------------------------------------

    def finish_run(self, run_id: str, status: str, timeout: float) -> bool:
        """Queue the run's end, wait up to ``timeout`` s; True if all of it reached MLflow."""
        ts = int(time.time() * 1000)
        data = encode_end(status, ts)
        with self._lock:
            stream = self._writers.pop(run_id, None) or self._open_stream(run_id)
            self._writers.pop(run_id, None)
            end = stream.segment.append(data)
            self._pending_bytes += len(data)
            stream.retired = True
            if not stream.spilled:
                stream.queue.append((END, status, ts, 0, end))
        self._wake.set()
        if self._wait(lambda: all(s.done.is_set() for s in self._run_streams(run_id)), timeout):
            return True
        self._mark_pending(run_id)
        return False

    def _run_streams(self, run_id: str) -> list[_Stream]:
        with self._lock:
            return [s for s in self._streams if s.segment.run_id == run_id]

    def _mark_pending(self, run_id: str) -> None:
        left = sum(len(s.queue) for s in self._run_streams(run_id))
        log.warning(
            "run %s: %d metric points not yet in MLflow (%s); they are kept in %s and "
            "delivered in the background, by the next client, or by `mlops sync`",
            run_id,
            left,
            self.breaker.last_error or "delivery still running",
            self.wal_dir,
        )
        if self.breaker.state == "closed":
            try:
                self._tracker_factory().set_tags(run_id, {PENDING_TAG: "true"})
            except MLOpsClientError:
                pass  # the server is the problem; sync will finish the run

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every queued point is in MLflow."""
        self._wake.set()
        return self._wait(self._all_delivered, timeout)

    def sync(
        self, timeout: float | None = None, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, int]:
        """Adopt segments of dead processes and deliver everything; bounded by ``timeout``."""
        adopted = self.adopt_orphans()
        total = self.pending_points()
        self._wake.set()
        bound = self.options.flush_timeout if timeout is None else timeout

        def done() -> bool:
            if progress:
                progress(total - self.pending_points(), total)
            return self._all_delivered()

        ok = self._wait(done, bound)
        return {
            "segments": adopted,
            "points": total,
            "pending": self.pending_points(),
            "complete": int(ok),
        }

    def _all_delivered(self) -> bool:
        with self._lock:
            return all(
                not s.queue and not s.spilled and (s.done.is_set() or not s.retired)
                for s in self._streams
            )

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        with self._progress:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.set()
                self._progress.wait(min(left, 0.2))
        return True

    def adopt_orphans(self) -> int:
        """Take over segments whose writer died; return how many were adopted."""
        with self._lock:
            held = {s.segment.path for s in self._streams}
        adopted = 0
        for path in iter_segments(self.wal_dir):
            if path in held or self._writer in path.name:
                continue
            segment = Segment.adopt(path)
            if segment is None:
                continue
            stream = _Stream(segment, owned=False)
            stream.refill(self._lock)
            stream.spilled = len(stream.queue) >= MAX_QUEUE
            with self._lock:
                self._streams.append(stream)
                self._pending_bytes += segment.pending_bytes
            adopted += 1
        if adopted and not self._started:
            self._started = True
            self._thread.start()
        return adopted

    def pending_points(self) -> int:
        """Points (and run ends) queued in memory, not yet in MLflow."""
        with self._lock:
            return sum(len(s.queue) for s in self._streams)

    def pending_bytes(self) -> int:
        """Bytes of this pipeline's WAL not yet acknowledged."""
        return self._pending_bytes

    def close(self, timeout: float) -> bool:
        """Flush (bounded), then stop the delivery thread. Undelivered data stays on disk."""
        ok = self.flush(timeout) if self._started else True
        self._stop.set()
        self._wake.set()
        if self._started:
            self._thread.join(timeout=1.0)
        with self._lock:
            for stream in self._streams:
                _detach(stream)
            self._streams.clear()
            self._writers.clear()
        return ok

    # -- delivery thread ---------------------------------------------------------------

    def _run(self) -> None:
        self.adopt_orphans()
        while not self._stop.is_set():
            self._wake.wait(self.options.flush_interval)
            self._wake.clear()
            if self.breaker.is_open:
                continue
            try:
                self._deliver_all()
            except Exception:  # never let the thread die: data stays on disk
                log.exception("mlops telemetry delivery failed unexpectedly; retrying")
                self.breaker.record_failure("unexpected error")

    def _deliver_all(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            while (stream.queue or stream.spilled) and not self.breaker.is_open:
                if not self._deliver_next(stream):
                    break
                with self._progress:
                    self._progress.notify_all()
            self._maybe_close(stream)
        with self._progress:
            self._progress.notify_all()

    def _deliver_next(self, stream: _Stream) -> bool:
        if not stream.queue and stream.spilled:
            stream.refill(self._lock)
            if not stream.queue:
                return False
        batch = _take_batch(stream.queue, self.options.batch_size)
        try:
            self._send(stream, batch)
        except InvalidInputError as err:  # permanent: the run is gone or rejects the data
            self._dead_letter(stream, str(err))
            return False
        except MLOpsClientError as err:
            pause = self.breaker.record_failure(str(err))
            failures = self.breaker.consecutive_failures
            level = logging.WARNING if failures in (1, 10, 100, 1000) else logging.DEBUG
            log.log(
                level, "mlops: delivery failed (%s); retry in %.1f s; data kept on disk", err, pause
            )
            return False
        self.breaker.record_success()
        for _ in batch:
            stream.queue.popleft()
        before = stream.segment.acked
        stream.segment.ack(batch[-1][4])
        with self._lock:
            self._pending_bytes -= stream.segment.acked - before
        return True

    def _send(self, stream: _Stream, batch: list[Item]) -> None:
        tracker = self._tracker_factory()
        run_id = stream.segment.run_id
        if batch[-1][0] == END:
            points = [(k, v, ts, step) for k, v, ts, step, _ in batch[:-1]]
            if points:
                tracker.log_metric_batch(run_id, points)
            tracker.end_run(run_id, str(batch[-1][1]), batch[-1][2])
            stream.retired = True
        else:
            tracker.log_metric_batch(run_id, [(k, v, ts, step) for k, v, ts, step, _ in batch])

    def _maybe_close(self, stream: _Stream) -> None:
        if stream.queue or stream.spilled or not stream.retired:
            return
        if stream.owned and stream.segment.written > stream.segment.acked:
            return  # appended after our snapshot; deliver next round
        if not stream.owned and not stream.done.is_set():
            self._end_orphan(stream)
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)
        stream.segment.close(delete=True)
        stream.done.set()

    def _end_orphan(self, stream: _Stream) -> None:
        """A dead process's run that never ended is marked KILLED once its points are in."""
        run_id = stream.segment.run_id
        others = [p for p in (self.wal_dir / run_id).glob("*.wal") if p != stream.segment.path]
        if others or stream.segment.path.name.endswith(DETACHED):
            return  # another writer may still use the run, or its writer closed cleanly
        try:
            tracker = self._tracker_factory()
            if tracker.run_status(run_id) == "RUNNING":
                tracker.end_run(run_id, "KILLED")
        except MLOpsClientError as exc:  # the data is in; ending the run is best effort
            log.warning("mlops: could not mark orphaned run %s ended: %s", run_id, exc)

    def _dead_letter(self, stream: _Stream, reason: str) -> None:
        dead = self.wal_dir / "dead" / stream.segment.run_id
        dead.mkdir(parents=True, exist_ok=True)
        path = stream.segment.path
        log.error(
            "mlops: MLflow rejected points of run %s (%s); moved to %s",
            stream.segment.run_id,
            reason,
            dead,
        )
        with self._lock:
            self._pending_bytes -= stream.segment.pending_bytes
            if stream in self._streams:
                self._streams.remove(stream)
            for run_id, s in list(self._writers.items()):
                if s is stream:
                    del self._writers[run_id]
        stream.queue.clear()
        stream.spilled = False
        (dead / (path.name + ".reason")).write_text(reason + "\n")
        for p in (path, path.with_suffix(".ack")):
            if p.exists():
                shutil.move(str(p), str(dead / p.name))
        stream.segment.close(delete=False)
        stream.done.set()


def _detach(stream: _Stream) -> None:
    """Close a stream at shutdown: delivered segments go; others stay, marked as cleanly left.

    A run whose writer closed without ending it (a monitoring run, a run logged to
    with ``_submit_metrics``) must not be marked KILLED when another process
    later delivers the rest.
    """
    segment = stream.segment
    delivered = not stream.queue and not stream.spilled and segment.written == segment.acked
    segment.close(delete=delivered)
    if delivered or not stream.owned or stream.retired or segment.path.name.endswith(DETACHED):
        return
    target = segment.path.with_name(segment.path.name[: -len(".wal")] + DETACHED)
    segment.path.with_suffix(".ack").rename(target.with_suffix(".ack"))
    segment.path.rename(target)


def _take_batch(queue: deque[Any], size: int) -> list[Item]:
    batch: list[Item] = []
    for item in itertools.islice(queue, size):
        batch.append(item)
        if item[0] == END:
            break
    return batch


_pipelines: weakref.WeakSet[TelemetryPipeline] = weakref.WeakSet()


def _register_exit(pipeline: TelemetryPipeline) -> None:
    if not _pipelines:
        atexit.register(_flush_at_exit)
    _pipelines.add(pipeline)


def _flush_at_exit() -> None:
    """At interpreter exit: deliver what can be delivered within each flush bound."""
    for pipeline in list(_pipelines):
        if pipeline._started and not pipeline._stop.is_set():
            ok = pipeline.flush(pipeline.options.flush_timeout)
            left = pipeline.pending_points()
            pipeline.close(0)
            if not ok:
                print(  # logging may already be shut down
                    f"mlops: {left} metric points are pending in "
                    f"{pipeline.wal_dir}; run `mlops sync` to deliver them",
                    file=sys.stderr,
                )
