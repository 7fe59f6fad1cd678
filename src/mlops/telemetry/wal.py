"""The write-ahead log: append-only segment files of metric points, one writer each.

Layout, per project: ``<workspace>/wal/<run_id>/<writer>-<seq>.wal`` with a
sibling ``.ack`` file holding how many bytes MLflow has acknowledged.

A record is one text line, written with a single ``write(2)`` before
``log_metrics`` returns (so it survives ``kill -9`` of the process; a power cut
can lose what the OS had not yet written to disk, typically the last few
seconds, because no fsync is done per call)::

    <key>\\t<value>\\t<step>\\t<timestamp_ms>\\n      a metric point
    !end\\t<status>\\t<end_time_ms>\\n                 the run ended with status

Metric keys cannot start with ``!`` or contain tabs (see validation), so the
two never collide. The writer holds an exclusive ``flock`` on its segment for
its lifetime; a segment whose lock can be taken belongs to a dead process and
may be replayed by anyone. Replays keep each point's timestamp, so MLflow sees
the same (run, key, step, timestamp, value) and stores it once.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["END", "Record", "Segment", "iter_segments", "writer_id"]

END = "!end"
_ACK_WIDTH = 20


@dataclass(frozen=True)
class Record:
    """A parsed WAL line: a point (key, value, step, ts) or an end marker (key == END)."""

    key: str
    value: float
    step: int
    timestamp: int
    status: str = ""
    end_offset: int = 0


def writer_id() -> str:
    """A name unique to this process: host, pid and a random suffix."""
    host = socket.gethostname().replace("-", "_")[:32] or "host"
    return f"{host}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


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
        """Open a new segment for appending and lock it for this process."""
        folder = directory / run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{writer}-{seq:06d}.wal"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ack_fd = os.open(path.with_suffix(".ack"), os.O_RDWR | os.O_CREAT, 0o644)
        return cls(path, fd, ack_fd, os.fstat(fd).st_size, 0)

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
        raw = os.pread(ack_fd, _ACK_WIDTH, 0).strip()
        acked = int(raw) if raw.isdigit() else 0
        return cls(path, fd, ack_fd, os.fstat(fd).st_size, acked)

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet acknowledged by MLflow."""
        return self.written - self.acked

    def append(self, data: bytes) -> int:
        """Write ``data`` in one call; return the end offset. Callers hold the pipeline lock."""
        os.write(self.fd, data)
        self.written += len(data)
        return self.written

    def ack(self, offset: int) -> None:
        """Record that everything before ``offset`` is stored in MLflow."""
        if offset > self.acked:
            os.pwrite(self.ack_fd, str(offset).rjust(_ACK_WIDTH).encode(), 0)
            self.acked = offset

    def read_range(self, start: int, end: int, limit: int) -> tuple[list[Record], int]:
        """Up to ``limit`` records between byte offsets ``start`` and ``end``.

        Returns them and the offset after the last whole line read. A torn last
        line (a crashed writer's unfinished ``write``) is not a record; a
        damaged line is skipped.
        """
        records: list[Record] = []
        offset = start
        with open(self.path, "rb") as fh:
            fh.seek(start)
            while offset < end and len(records) < limit:
                line = fh.readline(end - offset)
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                record = _parse(line.decode("utf-8", "replace"), offset)
                if record is not None:
                    records.append(record)
        return records, offset

    def close(self, delete: bool) -> None:
        """Release the lock; remove the files if everything was delivered."""
        if delete:
            for p in (self.path, self.path.with_suffix(".ack")):
                p.unlink(missing_ok=True)
            try:
                self.path.parent.rmdir()
            except OSError:
                pass  # other segments of the run remain
        for fd in (self.fd, self.ack_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _parse(line: str, end_offset: int) -> Record | None:
    parts = line.rstrip("\n").split("\t")
    try:
        if parts[0] == END:
            return Record(END, 0.0, 0, int(parts[2]), parts[1], end_offset)
        return Record(parts[0], float(parts[1]), int(parts[2]), int(parts[3]), "", end_offset)
    except (IndexError, ValueError):
        return None  # a damaged line: skip it rather than block the rest


def encode_end(status: str, ts: int) -> bytes:
    """The WAL line that ends a run."""
    return f"{END}\t{status}\t{ts}\n".encode()


def iter_segments(directory: Path) -> Iterator[Path]:
    """Every segment file under a project's WAL folder, oldest name first."""
    if not directory.is_dir():
        return
    for run_dir in sorted(directory.iterdir()):
        if run_dir.is_dir() and run_dir.name != "dead":
            yield from sorted(run_dir.glob("*.wal"))
