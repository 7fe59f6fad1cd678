"""The write-ahead log: its record format and its segment files (the one owner of both).

Layout, per project: ``<workspace>/wal/<run_id>/<writer>-<seq>.wal``, each with a
sibling ``.ack`` holding how many bytes the tracking store has acknowledged. A
run logged offline also has ``offline.json`` (how to create it) and, once the
delivery agent has created it on the server, ``server_id``.

A record is one line, written with a single ``write(2)`` before the logging call
returns (it survives ``kill -9`` of the process; a power cut can lose what the
OS had not yet written to disk, since no fsync is done per call)::

    <key>\\t<value>\\t<step>\\t<timestamp_ms>\\n        a metric point
    !<kind>\\t<JSON object>\\n                          an event: params, tags, datasets,
                                                       artifact, model, end

Metric keys cannot start with ``!`` or hold tabs or newlines (see validation),
so the two never collide. A short write (a full disk) is cut back to the last
whole record and reported; a line without its newline is a torn write and is
never read as a record.

The writer holds an exclusive ``flock`` on its segment for its lifetime. A new
segment is created under a temporary name, locked, then renamed into place, so
a segment visible under ``*.wal`` whose lock can be taken belongs to a dead
process and may be replayed by anyone. Replays keep each point's timestamp,
so the store sees the same (run, key, step, timestamp, value) and keeps it once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mlops.errors import MLOpsClientError

__all__ = [
    "DETACHED",
    "Entry",
    "Event",
    "Point",
    "PointCounter",
    "Segment",
    "acked_on_disk",
    "detached_path",
    "encode_event",
    "encode_points",
    "iter_segments",
    "parse_line",
    "pending_in",
    "read_ack",
    "read_entries",
    "store_segments",
    "write_ack",
    "writer_id",
]

EVENT_PREFIX = "!"
DETACHED = ".detached.wal"  # left by its writer with the run still open, on purpose


def detached_path(path: Path) -> Path:
    """The name a writer gives segment ``path`` when it leaves its run open on purpose."""
    return path.with_name(path.name[: -len(".wal")] + DETACHED)


_ACK_WIDTH = 20
_COUNT_CHUNK = 4 * 1024 * 1024


class Point(NamedTuple):
    """One metric value: the only point type, from ``log_metrics`` to ``log_batch``."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class Event:
    """A record that is not a point: ``kind`` (params, tags, datasets, artifact, model, end)."""

    kind: str
    data: dict[str, Any]


class Entry(NamedTuple):
    """A parsed record and the byte offset just after its line (what acknowledging it means)."""

    record: Point | Event
    end: int


def writer_id() -> str:
    """A name unique to this process: host, pid and a random suffix."""
    host = socket.gethostname().replace("-", "_")[:32] or "host"
    return f"{host}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def encode_points(points: list[tuple[str, float]], step: int, ts: int) -> bytes:
    """The lines of ``points`` logged at ``step`` and ``ts`` (keys already validated)."""
    if len(points) == 1:
        key, value = points[0]
        return f"{key}\t{value!r}\t{step}\t{ts}\n".encode()
    return "".join(f"{k}\t{v!r}\t{step}\t{ts}\n" for k, v in points).encode()


def encode_event(kind: str, data: dict[str, Any]) -> bytes:
    """The line of one event."""
    return f"{EVENT_PREFIX}{kind}\t{json.dumps(data, separators=(',', ':'))}\n".encode()


def parse_line(line: str) -> Point | Event | None:
    """A record from one whole line (without its newline), or None for a damaged line."""
    parts = line.split("\t")
    try:
        if parts[0].startswith(EVENT_PREFIX):
            kind = parts[0][1:]
            if kind == "end" and len(parts) == 3:  # the format before events were JSON
                return Event("end", {"status": parts[1], "end_time": int(parts[2])})
            data = json.loads(parts[1])
            return Event(kind, data) if isinstance(data, dict) and len(parts) == 2 else None
        if len(parts) != 4:
            return None
        return Point(parts[0], float(parts[1]), int(parts[2]), int(parts[3]))
    except (IndexError, ValueError):
        return None  # a damaged line: skip it rather than block the rest


class Segment:
    """One append-only WAL file with its acknowledgement offset."""

    def __init__(self, path: Path, fd: int, ack_fd: int, written: int, acked: int) -> None:
        self.path = path
        self.run_id = path.parent.name
        self.fd = fd
        self.ack_fd = ack_fd
        self.written = written
        self.acked = acked

    @classmethod
    def create(cls, directory: Path, run_id: str, writer: str, seq: int) -> Segment:
        """Open a new segment for appending, locked for this process before anyone sees it."""
        folder = directory / run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{writer}-{seq:06d}.wal"
        hidden = path.with_name(f".{path.name}.new")
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            ack_fd = os.open(path.with_suffix(".ack"), os.O_RDWR | os.O_CREAT, 0o644)
            os.rename(hidden, path)  # visible to orphan scanners only now, and locked
        except OSError:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise
        return cls(path, fd, ack_fd, 0, 0)

    @classmethod
    def adopt(cls, path: Path) -> Segment | None:
        """Lock an orphaned segment (its writer is gone); None if it is still owned."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        ack_fd = os.open(path.with_suffix(".ack"), os.O_RDWR | os.O_CREAT, 0o644)
        return cls(path, fd, ack_fd, os.fstat(fd).st_size, read_ack(ack_fd))

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet acknowledged by the store."""
        return self.written - self.acked

    def append(self, data: bytes) -> int:
        """Write ``data`` in one call; return the end offset. Callers serialise appends.

        Raises:
            MLOpsClientError: the disk is full (or the write failed): nothing of
                ``data`` stays in the log, and what was logged before is intact.
        """
        try:
            written = os.write(self.fd, data)
        except OSError as exc:
            self._cut_back()
            raise _write_error(self.path, exc) from exc
        if written != len(data):
            self._cut_back()
            raise _write_error(self.path, OSError(errno.ENOSPC, "short write"))
        self.written += written
        return self.written

    def _cut_back(self) -> None:
        """Drop the torn bytes of a failed write: the file ends at the last whole record."""
        try:
            os.ftruncate(self.fd, self.written)
        except OSError:
            pass  # a torn tail without its newline is never read as a record anyway

    def refresh(self) -> int:
        """Re-read the acknowledged offset (another process delivers); the new value."""
        self.acked = max(self.acked, read_ack(self.ack_fd))
        return self.acked

    def close(self, delete: bool) -> None:
        """Release the lock; remove the files if everything was delivered."""
        if delete:
            for p in (self.path, self.path.with_suffix(".ack")):
                p.unlink(missing_ok=True)
        for fd in (self.fd, self.ack_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def read_ack(ack_fd: int) -> int:
    """The acknowledged offset stored in an ``.ack`` file."""
    raw = os.pread(ack_fd, _ACK_WIDTH, 0).strip()
    return int(raw) if raw.isdigit() else 0


def write_ack(ack_fd: int, offset: int) -> None:
    """Store the acknowledged offset (one fixed-width ``pwrite``)."""
    os.pwrite(ack_fd, str(offset).rjust(_ACK_WIDTH).encode(), 0)


def read_entries(path: Path, start: int, limit: int, stop: int | None = None) -> list[Entry]:
    """Up to ``limit`` whole records of ``path`` from byte ``start`` (to ``stop``).

    A torn last line (a crashed writer's unfinished write) is not a record; a
    damaged line comes back as a ``damaged`` event, to be set aside.
    """
    entries: list[Entry] = []
    offset = start
    with open(path, "rb") as fh:
        fh.seek(start)
        while len(entries) < limit and (stop is None or offset < stop):
            line = fh.readline()
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            text = line[:-1].decode("utf-8", "replace")
            record = parse_line(text)
            # A damaged line is kept as an event, so it is set aside (and acknowledged).
            entries.append(Entry(record or Event("damaged", {"line": text[:300]}), offset))
    return entries


def count_points(path: Path, start: int, stop: int) -> tuple[int, int]:
    """Points among the whole lines of ``path`` in bytes ``[start, stop)``, and where they end.

    ``start`` must be a record boundary (an acknowledged offset is one). Counting
    newlines and event prefixes runs in C: a million points take milliseconds.
    """
    event = EVENT_PREFIX.encode()
    points, end = 0, start
    with open(path, "rb") as fh:
        fh.seek(start)
        while end < stop:
            chunk = fh.read(min(_COUNT_CHUNK, stop - end))
            last = chunk.rfind(b"\n")
            if last < 0:  # a torn tail, or one line longer than a chunk
                rest = fh.readline() if len(chunk) == _COUNT_CHUNK else b""
                if not rest.endswith(b"\n") or end + len(chunk) + len(rest) > stop:
                    break
                points += not chunk.startswith(event)
                end += len(chunk) + len(rest)
                continue
            whole = chunk[: last + 1]  # every line of it starts a record
            points += whole.count(b"\n") - whole.count(b"\n" + event) - whole.startswith(event)
            end += last + 1
            fh.seek(end)
    return points, end


class PointCounter:
    """Metric points not yet acknowledged, per segment, counted once per byte.

    Each call reads only what was appended or acknowledged since the last one,
    so watching a large backlog drain stays cheap.
    """

    def __init__(self) -> None:
        self._seen: dict[Path, list[int]] = {}  # path -> [acked, scanned, points between]

    def left(self, path: Path, acked: int, size: int) -> int:
        """Points in ``path`` between the acknowledged offset ``acked`` and ``size``."""
        seen = self._seen.get(path)
        try:
            if seen is None or not seen[0] <= acked <= seen[1]:
                seen = self._seen[path] = [acked, acked, 0]
            if acked > seen[0]:
                seen[2] -= count_points(path, seen[0], acked)[0]
                seen[0] = acked
            if size > seen[1]:
                more, seen[1] = count_points(path, seen[1], size)
                seen[2] += more
        except FileNotFoundError:
            self._seen.pop(path, None)
            return 0
        return max(0, seen[2])

    def keep_only(self, paths: set[Path]) -> None:
        """Forget segments that are gone."""
        for gone in set(self._seen) - paths:
            del self._seen[gone]


def iter_segments(directory: Path) -> Iterator[Path]:
    """Every segment file under a project's WAL folder, oldest name first."""
    if not directory.is_dir():
        return
    for run_dir in sorted(directory.iterdir()):
        if run_dir.is_dir() and run_dir.name != "dead":
            yield from sorted(run_dir.glob("*.wal"))


def store_segments(directory: Path, key: str) -> list[Path]:
    """The segments of store ``key``: those whose run folder's ``store`` marker names it
    (a folder without one was written before markers existed: any store's)."""
    out = []
    for path in iter_segments(directory):
        try:
            owner = (path.parent / "store").read_text().strip()
        except OSError:
            owner = key
        if owner == key:
            out.append(path)
    return out


def acked_on_disk(path: Path) -> int:
    """The acknowledged offset in ``path``'s ``.ack`` file (0 without one)."""
    try:
        fd = os.open(path.with_suffix(".ack"), os.O_RDONLY)
    except OSError:
        return 0
    try:
        return read_ack(fd)
    finally:
        os.close(fd)


def pending_in(
    segments: Iterable[Path],
    acked: Callable[[Path], int] = acked_on_disk,
    counter: PointCounter | None = None,
) -> dict[str, Any]:
    """What ``segments`` hold beyond their acknowledged offsets (``acked``): ``bytes``,
    the ``runs`` they belong to and, with a ``counter``, the metric ``points``."""
    total, points, runs = 0, 0, set()
    for path in segments:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # delivered and removed since it was listed
        done = acked(path)
        if size > done:
            total += size - done
            runs.add(path.parent.name)
            points += counter.left(path, done, size) if counter is not None else 0
    out: dict[str, Any] = {"bytes": total, "runs": sorted(runs)}
    if counter is not None:
        out["points"] = points
    return out


def _write_error(path: Path, exc: OSError) -> MLOpsClientError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    why = "the disk is full" if full else f"the write failed ({exc.strerror or exc})"
    return MLOpsClientError(
        f"{why}: the points were not logged (what was logged before is kept) in {path.parent}",
        component="telemetry",
        operation="log_metrics",
        hint="free disk space there (or move the repository's .mlops/ to a larger disk), "
        "then log again",
    )
