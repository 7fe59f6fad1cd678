"""Keep the latest record of a long-running sampling command (powermetrics, macmon pipe).

Both tools print one record per interval for as long as they run; starting one
per sample would cost a process launch and a full interval each time. A reader
thread parses each record as it arrives and keeps only the latest one.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

__all__ = ["StreamingCommand"]

Parser = Callable[[bytes], dict[str, float]]


class StreamingCommand:
    """Run ``argv`` in the background and parse each ``separator``-ended record.

    Args:
        argv: The command, e.g. ``["macmon", "pipe", "-i", "1000"]``.
        separator: What ends one record (``b"\\n"`` for JSON lines, ``b"\\0"`` for plists).
        parser: Record bytes to metrics; a record it cannot parse is counted and skipped.
    """

    def __init__(self, argv: Sequence[str], separator: bytes, parser: Parser) -> None:
        self.argv = list(argv)
        self.separator = separator
        self.parser = parser
        self.records = 0
        self.bad_records = 0
        self.error: str | None = None
        self._latest: dict[str, float] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._stderr: IO[bytes] | None = None

    def start(self) -> None:
        """Start the command and its reader thread; a missing binary sets :attr:`error`."""
        # stderr goes to a file: a chatty tool must never block on a full pipe.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        try:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
            )
        except OSError as exc:
            self._stderr.close()
            self.error = f"cannot start {self.argv[0]}: {exc}"
            return
        self._thread = threading.Thread(
            target=self._read, name=f"mlops-{self.argv[0]}", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the command has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def latest(self) -> dict[str, float]:
        """The metrics of the newest complete record (empty before the first)."""
        with self._lock:
            return dict(self._latest)

    def _read(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        buffer = b""
        try:
            stdout: Any = proc.stdout  # a BufferedReader: read1 returns what is there
            for chunk in iter(lambda: stdout.read1(65536), b""):
                buffer += chunk
                *records, buffer = buffer.split(self.separator)
                for record in records:
                    self._take(record)
        except (OSError, ValueError):  # the pipe was closed under us by close()
            return
        self._take(buffer)
        self._note_exit(proc)

    def _take(self, record: bytes) -> None:
        if not record.strip():
            return
        try:
            metrics = self.parser(record.strip())
        except Exception:  # a torn or unexpected record must not stop the stream
            self.bad_records += 1
            return
        with self._lock:
            self._latest = metrics
            self.records += 1

    def _note_exit(self, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        stderr = ""
        if self._stderr is not None and not self._stderr.closed:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode(errors="replace").strip()
        if code != 0 and self.error is None and not self._closing:
            self.error = f"{self.argv[0]} exited with {code}: {stderr[-300:] or 'no message'}"

    def close(self, timeout: float = 2.0) -> None:
        """Stop the command (terminate, then kill) and its reader thread."""
        self._closing = True
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
