"""The delivery agent: one background process per project and tracking store.

Training processes only append to the write-ahead log; the agent reads it and
delivers (runs, params, tags, points, datasets, artifacts, models, run ends),
acknowledges, adopts dead writers' segments, and exits when idle (it stays
while a training process writes, and lingers while the server is away). It is
started on demand by the first writer (:class:`AgentLink`), is a single
instance by an ``flock`` on ``wal/.agent-<store>.lock``, outlives a training
process killed with ``kill -9``, and is woken through a FIFO
(``wal/.agent-<store>.fifo``: a writer that cannot open it for writing knows no
agent runs). ``mlops sync`` runs the same loop in the foreground.

Its state is in ``wal/agent-<store>.json`` (pid, online/offline/stopped, last
error, what it delivered): ``mlops status`` and waiting writers read it. It gets the
project's settings through its environment (``MLOPS_AGENT_SETTINGS``), never a
file, so credentials in the tracking URI stay off the disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import redact
from mlops.invocation import mlops_command

if TYPE_CHECKING:
    from mlops.config import Settings

__all__ = [
    "AgentLink",
    "agent_files",
    "is_running",
    "lock_is_held",
    "read_status",
    "run_agent",
    "store_key",
]

log = logging.getLogger("mlops.telemetry")
SETTINGS_ENV = "MLOPS_AGENT_SETTINGS"
_SPAWN_EVERY = 1.0  # seconds between attempts to start an agent


def store_key(settings: Settings) -> str:
    """A short name for the tracking store (hash of its URI: one agent per store)."""
    return hashlib.sha256(settings.tracking_uri.encode()).hexdigest()[:12]


def agent_files(wal_dir: Path, key: str) -> dict[str, Path]:
    """The agent's lock, FIFO, status and log files for store ``key``."""
    return {
        "lock": wal_dir / f".agent-{key}.lock",
        "fifo": wal_dir / f".agent-{key}.fifo",
        "status": wal_dir / f"agent-{key}.json",
        "log": wal_dir / f"agent-{key}.log",
    }


def read_status(path: Path) -> dict[str, Any]:
    """The agent's last published state (empty if none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_fifo(path: Path) -> None:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(path.stat().st_mode):
            path.unlink()
            os.mkfifo(path, 0o600)


class AgentLink:
    """A writer's handle on its project's agent: wake it, start it, read its state."""

    def __init__(self, settings: Settings, wal_dir: Path) -> None:
        self.settings = settings
        self.wal_dir = wal_dir
        self.key = store_key(settings)
        self.files = agent_files(wal_dir, self.key)
        self._fd: int | None = None
        self._last_spawn = 0.0
        self._marked: set[str] = set()

    def mark_run(self, run_id: str) -> None:
        """Record which store a run's segments belong to (once per run and process)."""
        if run_id in self._marked:
            return
        marker = self.wal_dir / run_id / "store"
        if not marker.exists():
            marker.write_text(self.key + "\n")
        self._marked.add(run_id)

    def wake(self, urgent: bool = False) -> None:
        """Nudge the agent (one byte in its FIFO); start one when none listens.

        ``urgent`` (sync asks): retry a server the agent is backing off from, now.
        """
        if self._fd is None and not self._open():
            self._spawn()
            return
        try:
            os.write(self._fd, b"s" if urgent else b"w")  # type: ignore[arg-type]
        except BlockingIOError:
            pass  # the FIFO is full of nudges: the agent is busy anyway
        except OSError:  # EPIPE: the agent went away
            self.close()
            self._spawn()

    def ensure(self) -> None:
        """Like :meth:`wake`, for wait loops."""
        self.wake()

    def _open(self) -> bool:
        try:
            _make_fifo(self.files["fifo"])
            self._fd = os.open(self.files["fifo"], os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno not in (errno.ENXIO, errno.ENOENT):
                log.debug("mlops: cannot open the agent's FIFO: %s", exc)
            self._fd = None
            return False
        return True

    def _spawn(self) -> None:
        now = time.monotonic()
        if now - self._last_spawn < _SPAWN_EVERY:
            return
        self._last_spawn = now
        if lock_is_held(self.files["lock"]):
            return  # an agent is starting (it has not opened its FIFO yet)
        spawn(self.settings, self.wal_dir)

    def status(self) -> dict[str, Any]:
        """The agent's published state."""
        return read_status(self.files["status"])

    def offline(self) -> bool:
        """True when the agent says the tracking server cannot be reached."""
        state = self.status()
        return state.get("state") == "offline" and is_running(state)

    def progressed_since(self, when: float | None) -> bool:
        """True when the agent delivered something after ``when`` (wall clock)."""
        last = self.status().get("last_delivery")
        return isinstance(last, int | float) and when is not None and last > when

    def last_error(self) -> str | None:
        """The agent's last delivery error, redacted."""
        error = self.status().get("last_error")
        return redact(error) if error else None

    def close(self) -> None:
        """Stop nudging (the agent keeps running until idle)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def is_running(state: dict[str, Any]) -> bool:
    """True when the agent that published ``state`` still runs (its pid is alive)."""
    return state.get("state") != "stopped" and _alive(state.get("pid"))


def _alive(pid: object) -> bool:
    """True while process ``pid`` runs (an exited child its spawner has not reaped does not)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a zombie still answers kill(0); its state letter follows the command
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here (macOS): trust kill(0)
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def lock_is_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


def spawn(settings: Settings, wal_dir: Path) -> subprocess.Popen[bytes] | None:
    """Start an agent for ``settings``' project and store, detached from this process."""
    files = agent_files(wal_dir, store_key(settings))
    env = {**os.environ, SETTINGS_ENV: settings.to_json()}
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    try:
        with open(files["log"], "ab") as log_file:
            return subprocess.Popen(
                [sys.executable, "-m", "mlops.telemetry.agent", str(wal_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                start_new_session=True,  # a Ctrl-C or kill of the trainer does not reach it
                close_fds=True,
            )
    except OSError as exc:
        log.warning(
            "mlops: cannot start the delivery agent (%s); run `%s`",
            exc,
            mlops_command("sync", "-p", settings.project, "--repo-root", settings.root),
        )
        return None


@contextlib.contextmanager
def agent_lock(wal_dir: Path, key: str, wait: bool) -> Iterator[bool]:
    """Hold the agent lock of ``key``; yields False when another agent holds it (no wait)."""
    files = agent_files(wal_dir, key)
    wal_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(files["lock"], os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def run_agent(
    settings: Settings,
    wal_dir: Path,
    *,
    until_drained: bool = False,
    timeout: float | None = None,
    watch: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The delivery loop, in this process.

    Background agent (default): runs while any writer process holds a segment
    (the server may be away meanwhile). Once none does, it exits after
    ``telemetry.agent_idle`` seconds with nothing left; with records still left
    (the server away) it keeps retrying, with its backoff, for
    ``telemetry.agent_linger`` seconds since a writer was last seen or
    something was delivered. ``until_drained`` (``mlops sync``): until nothing is
    left, or ``timeout`` seconds pass in which nothing was delivered. ``watch``:
    forever (``mlops sync --watch``). Returns the final state (delivered, set
    aside, pending).
    """
    from mlops.telemetry.delivery import Deliverer

    key = store_key(settings)
    files = agent_files(wal_dir, key)
    deliverer = Deliverer(settings, wal_dir, key)
    _make_fifo(files["fifo"])
    fifo = os.open(files["fifo"], os.O_RDONLY | os.O_NONBLOCK)
    # Our own write end keeps the FIFO open: a reader never sees end-of-file.
    keep = os.open(files["fifo"], os.O_WRONLY | os.O_NONBLOCK)
    clock = _Clock(time.monotonic())
    mode = "watch" if watch else "drain" if until_drained else "background"
    state: dict[str, Any] = {}
    try:
        while True:
            state = deliverer.step(clock.deadline(timeout))
            state["pid"] = os.getpid()
            _publish(files["status"], state)
            if progress is not None:
                progress(state)
            clock.saw(state, time.monotonic())
            if state["worked"]:
                continue
            if _finished(mode, state, clock, settings, timeout):
                return state
            pause = deliverer.pause(settings.telemetry.flush_interval)
            if timeout is not None and mode == "drain":
                pause = min(pause, max(0.0, clock.progress + timeout - time.monotonic()))
            if _wait_for_nudge(fifo, pause):
                deliverer.breaker.retry_now()
    finally:
        _publish(files["status"], {**state, "state": "stopped", "pid": os.getpid()})
        deliverer.close()
        os.close(fifo)
        os.close(keep)


class _Clock:
    """When the loop last delivered something, and last delivered or saw a live writer."""

    def __init__(self, now: float) -> None:
        self.progress = now
        self.busy = now

    def saw(self, state: dict[str, Any], now: float) -> None:
        if state["worked"]:
            self.progress = now
        if state["worked"] or state["live"]:
            self.busy = now

    def deadline(self, timeout: float | None) -> float | None:
        """A step stops between segments once ``timeout`` passed without progress."""
        return None if timeout is None else self.progress + timeout


def _finished(
    mode: str, state: dict[str, Any], clock: _Clock, settings: Settings, timeout: float | None
) -> bool:
    """Whether a loop that delivered nothing in its last step should stop now."""
    now = time.monotonic()
    if mode == "watch":
        return False
    if mode == "drain":
        stalled = timeout is not None and now - clock.progress >= timeout
        return state["pending_records"] == 0 or stalled
    if state["live"]:
        return False  # a training process still writes: the server may come back any time
    options = settings.telemetry
    bound = options.agent_linger if state["pending_records"] else options.agent_idle
    return now - clock.busy >= bound


def _wait_for_nudge(fifo: int, timeout: float) -> bool:
    """Sleep until nudged or ``timeout``; True when a sync asked to retry at once."""
    ready, _, _ = select.select([fifo], [], [], max(0.0, timeout))
    urgent = False
    if ready:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fifo, 4096):
                urgent = urgent or b"s" in chunk
    return urgent


def _publish(path: Path, state: dict[str, Any]) -> None:
    shown = {k: v for k, v in state.items() if k != "worked"}
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(shown, default=str))
        tmp.replace(path)
    except OSError:
        pass  # a full disk: the state is a hint, the acks are the truth


def main(argv: list[str] | None = None) -> int:
    """``python -m mlops.telemetry.agent <wal dir>``: the background agent."""
    from mlops.config import Settings

    args = sys.argv[1:] if argv is None else argv
    wal_dir = Path(args[0])
    text = os.environ.pop(SETTINGS_ENV, None)
    if not text:
        print("mlops agent: no settings in the environment", file=sys.stderr)
        return 2
    settings = Settings.from_json(text)
    # HTTP bounds the training process chose for itself are the agent's to choose again.
    for name in os.environ.pop("MLOPS_HTTP_BOUNDS_CHOSEN", "").split(","):
        if name:
            os.environ.pop(name, None)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stop it with SIGTERM
    with agent_lock(wal_dir, store_key(settings), wait=False) as mine:
        if not mine:
            return 0  # another agent delivers this store
        run_agent(settings, wal_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
