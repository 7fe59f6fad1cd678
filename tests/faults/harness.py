"""The fault-injection scenarios, shared by ``tests/faults`` and ``benchmarks/faults.py``.

Each scenario runs real processes: a child Python process that logs through
mlops, a real ``mlflow server`` on PostgreSQL (started and stopped through mlops'
own server commands), the project's delivery agent, ``mlops sync``. The child
prints a line after every ``log_metrics`` call that returned, flushed: those
points are *acknowledged*. After the fault and the recovery, the scenario reads
the metric histories back from the server and returns an :class:`Outcome`
(acknowledged, stored, lost, duplicated, exit time, the exit codes of ``mlops
sync``); the tests assert on it, the benchmark prints it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.proxy import FaultProxy

__all__ = [
    "FLUSH_TIMEOUT",
    "PG_DSN",
    "SCENARIOS",
    "Child",
    "Outcome",
    "Server",
    "pg_database",
]

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MLOPS = [sys.executable, "-m", "mlops"]
FLUSH_TIMEOUT = 3.0  # the bound every child runs with: exit <= FLUSH_TIMEOUT + 1 s
TELEMETRY_ENV = {
    "MLOPS_TELEMETRY_FLUSH_TIMEOUT": str(FLUSH_TIMEOUT),
    "MLOPS_TELEMETRY_AGENT_IDLE": "3",  # agents left behind go away soon
    "MLOPS_TELEMETRY_MAX_BACKOFF": "1",  # recovery within a second of the fault's end
    "MLOPS_TELEMETRY_REQUEST_TIMEOUT": "5",  # a hung server's request fails within 5 s
}

CHILD = r"""
import json, os, sys, time
from mlops.client import create_client
repo, project, uri, name, total, width, pause, stop = sys.argv[1:9]
total, width, pause = int(total), int(width), float(pause)
client = create_client(project, repo_root=repo, tracking_uri=uri)
out = sys.stdout
with client.start_run(run_name=name) as run:
    out.write(f"RUN {run.info.run_id}\n")
    out.flush()
    i = 0
    while (total < 0 or i < total) and not os.path.exists(stop):
        try:
            client.log_metrics({f"m{j}": float(i) for j in range(width)}, step=i)
        except Exception as exc:
            names = [c.__name__ for c in type(exc).__mro__]
            names = json.dumps(names, separators=(",", ":"))
            out.write(f"ERROR {i} {names} {json.dumps(str(exc))}\n")
            out.flush()
            command = sys.stdin.readline().split()  # "retry <more calls>" or "stop"
            if command and command[0] == "retry":
                total = i + int(command[1])
                continue
            break
        out.write(f"{i}\n")
        out.flush()
        i += 1
        if pause:
            time.sleep(pause)
    out.write(f"DONE {time.time()!r}\n")
    out.flush()
out.write(f"LEFT {time.time()!r}\n")  # the run is over: what follows is interpreter exit
out.flush()
"""


def child_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's MLOPS_* settings, plus the suite's and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(TELEMETRY_ENV)
    env.update(extra)
    return env


# -- services ---------------------------------------------------------------------------


@contextlib.contextmanager
def pg_database(prefix: str = "mlops_faults") -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1:5432 (SQLAlchemy URI), dropped afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_DSN, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A real ``mlflow server`` on PostgreSQL, through ``mlops.tracking.server``."""

    root: Path
    port: int
    backend: str

    @property
    def url(self) -> str:
        """Its tracking URI."""
        return f"http://127.0.0.1:{self.port}"

    def _settings(self) -> Any:
        from mlops.config import load_settings

        return load_settings(
            "server-admin",
            repo_root=self.root,
            overrides={"server": {"backend_store_uri": self.backend, "port": self.port}},
        )

    def start(self) -> None:
        """Start it and wait until it answers."""
        from mlops.tracking.server import start_server

        start_server(self._settings())

    def stop(self) -> None:
        """Stop it by its recorded PID (its process group)."""
        from mlops.tracking.server import stop_server

        self.resume()
        stop_server(self._settings())

    def ensure_running(self) -> None:
        """Resume it if hung, start it if stopped (a scenario that failed half-way)."""
        from mlops.tracking.server import server_status

        self.resume()
        info = server_status(self._settings())
        if info is None or not info.running:
            self.start()

    def pgid(self) -> int:
        """The process group of the recorded server PID (it runs in its own session)."""
        from mlops.tracking.server import server_status

        info = server_status(self._settings())
        if info is None or not info.running:
            raise RuntimeError("the tracking server is not running")
        return os.getpgid(info.pid)

    def hang(self) -> None:
        """SIGSTOP its whole process group: connections are accepted, nothing answers."""
        self._hung = self.pgid()
        os.killpg(self._hung, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT what :meth:`hang` stopped."""
        pgid = getattr(self, "_hung", None)
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGCONT)
            self._hung = None


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[Server]:
    """A started :class:`Server` on a fresh database, stopped and dropped afterwards."""
    with pg_database() as backend:
        server = Server(root, free_port(), backend)
        server.start()
        try:
            yield server
        finally:
            server.stop()


# -- the logging child --------------------------------------------------------------------


class Child:
    """A process logging ``width`` points per call to a run; it reports every returned call.

    A thread reads its reports as they come (the child never blocks on a full
    pipe) and another notes the moment it exits, so its exit time is measured
    even while the test is busy injecting a fault.
    """

    def __init__(
        self,
        repo: Path,
        project: str,
        uri: str,
        *,
        name: str = "child",
        total: int = -1,
        width: int = 1,
        pause: float = 0.0005,
        env: dict[str, str] | None = None,
    ) -> None:
        self.width = width
        self.stop_file = repo.parent / f".stop-{uuid.uuid4().hex[:8]}"  # created: the loop ends
        # A file, not a pipe: a pipe nobody reads could block the child.
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in close())
        args = [str(repo), project, uri, name, str(total), str(width), str(pause)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args, str(self.stop_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            stderr=self._stderr,
            env=env or child_env(),
        )
        self.calls = 0  # log_metrics calls that returned
        self.run_id = ""
        self.done_at: float | None = None  # wall clock when its loop ended
        self.left_at: float | None = None  # ... when it left start_run
        self.exited_at: float | None = None
        self.errors: list[dict[str, Any]] = []
        self.stderr = ""
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._waiter = threading.Thread(target=self._wait_exit, daemon=True)
        self._waiter.start()
        if not self._until(lambda: bool(self.run_id), 120):
            self.close()
            raise RuntimeError(f"the child did not start a run: {self._err()}")

    @property
    def acknowledged(self) -> int:
        """Points whose ``log_metrics`` call returned."""
        return self.calls * self.width

    def _err(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-3000:]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._take(line)
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def _wait_exit(self) -> None:
        self.proc.wait()
        self.exited_at = time.time()

    def _take(self, line: str) -> None:
        """Account for one output line."""
        kind, _, rest = line.rstrip("\n").partition(" ")
        if kind == "RUN":
            self.run_id = rest
        elif kind == "DONE":
            self.done_at = float(rest)
        elif kind == "LEFT":
            self.left_at = float(rest)
        elif kind == "ERROR":
            step, names, message = rest.split(" ", 2)
            self.errors.append(
                {"step": int(step), "types": json.loads(names), "message": json.loads(message)}
            )
        elif kind.isdigit():
            self.calls = int(kind) + 1

    def _until(self, check: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: check() or self._eof, timeout) and check()

    def until(self, calls: int, timeout: float = 120) -> str:
        """Wait until ``calls`` calls returned; ``point``, else ``error`` or ``eof``."""
        errors = len(self.errors)
        self._until(lambda: self.calls >= calls or len(self.errors) > errors, timeout)
        if self.calls >= calls:
            return "point"
        return "error" if len(self.errors) > errors else "eof"

    def watch(self, seconds: float) -> None:
        """Let it log for ``seconds``."""
        time.sleep(seconds)

    def stop(self) -> None:
        """End its logging loop (it then leaves the run and exits)."""
        self.stop_file.touch()

    def send(self, line: str) -> None:
        """Write one command line to the child's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    @property
    def leave_s(self) -> float | None:
        """Seconds from its loop's end to leaving ``start_run`` (the rest of the exit follows)."""
        if self.left_at is None or self.done_at is None:
            return None
        return round(self.left_at - self.done_at, 3)

    def kill9(self) -> None:
        """SIGKILL mid-write, then count every call it reported before dying."""
        self.proc.send_signal(signal.SIGKILL)
        self._waiter.join(10)
        self._reader.join(10)

    def finish(self, timeout: float = 60) -> float:
        """Wait for its exit; seconds from its loop's end to its exit."""
        self._waiter.join(timeout)
        self._reader.join(10)
        self.stderr = self._err()
        if self.proc.returncode != 0 or self.done_at is None or self.exited_at is None:
            raise RuntimeError(f"child exited {self.proc.returncode}: {self.stderr}")
        return self.exited_at - self.done_at

    def close(self) -> None:
        """Kill it if it still runs (a failed scenario)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        self.stop_file.unlink(missing_ok=True)
        for pipe in (self.proc.stdin, self.proc.stdout, self._stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


# -- counting, syncing, cleaning up ---------------------------------------------------------


@dataclass
class Outcome:
    """What a scenario measured."""

    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    exit_s: float | None = None
    sync_rc: list[int] = field(default_factory=list)  # each `mlops sync`, in order
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, other: Outcome) -> None:
        """Add another run's counts to this one."""
        self.acknowledged += other.acknowledged
        self.stored += other.stored
        self.lost += other.lost
        self.duplicated += other.duplicated

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (rounded exit time)."""
        out = asdict(self)
        if self.exit_s is not None:
            out["exit_s"] = round(self.exit_s, 3)
        return out


def count(uri: str, child: Child) -> Outcome:
    """Compare what the server stores of ``child``'s run with what it acknowledged.

    Point ``(m<j>, step i)`` is acknowledged when call ``i`` returned. ``stored``
    counts the acknowledged points on the server, ``lost`` those missing,
    ``duplicated`` the extra copies of any point (a call cut by the fault may be
    stored or not, never twice).
    """
    from mlflow import MlflowClient

    mlflow = MlflowClient(tracking_uri=uri)
    out = Outcome(acknowledged=child.acknowledged)
    for j in range(child.width):
        history = mlflow.get_metric_history(child.run_id, f"m{j}")
        steps = [m.step for m in history]
        distinct = set(steps)
        out.duplicated += len(steps) - len(distinct)
        present = sum(1 for s in distinct if s < child.calls)
        out.stored += present
        out.lost += child.calls - present
        wrong = [m for m in history if m.value != float(m.step)]
        if wrong:
            out.notes["wrong_values"] = out.notes.get("wrong_values", 0) + len(wrong)
    return out


def mlops_sync(repo: Path, project: str, uri: str, timeout: float = 120) -> int:
    """Run ``mlops sync`` for ``project`` against ``uri``; its exit code."""
    out = subprocess.run(
        [*MLOPS, "sync", "-p", project, "--repo-root", str(repo), "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        env=child_env(MLOPS_TRACKING_URI=uri),
        timeout=timeout + 60,
        check=False,
    )
    return out.returncode


def wal_dir(repo: Path, project: str) -> Path:
    """The project's write-ahead log folder."""
    return repo / ".mlops" / "workspaces" / project / "wal"


def pending_bytes(repo: Path, project: str) -> int:
    """Bytes of the project's log not acknowledged by the store."""
    from mlops.telemetry.sync import pending_on_disk

    return int(pending_on_disk(wal_dir(repo, project))["bytes"])


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """Poll ``check`` until it is true or ``timeout`` runs out; its last answer."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def stop_agents(repo: Path, project: str) -> None:
    """SIGTERM the delivery agents of ``project`` by the PIDs they published; wait for them."""
    from mlops.telemetry.agent import read_status

    folder = wal_dir(repo, project)
    pids = []
    for status in folder.glob("agent-*.json") if folder.is_dir() else []:
        pid = read_status(status).get("pid")
        if isinstance(pid, int) and pid > 0 and _is_agent(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
    for pid in pids:
        wait_for(lambda p=pid: not _is_agent(p), 10, 0.05)  # type: ignore[misc]


def _is_agent(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return b"mlops.telemetry.agent" in cmdline and state != "Z"


def new_repo(base: Path, name: str) -> Path:
    """A fresh git repository under ``base``."""
    root = base / name
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    return root


# -- the scenarios ------------------------------------------------------------------------
# Each takes a running Server and a scratch folder; it leaves the server running.


def kill9_mid_write(server: Server, base: Path) -> Outcome:
    """kill -9 of the training process while points stream; ``mlops sync`` delivers them."""
    repo, project = new_repo(base, "kill9"), "kill9"
    child = Child(repo, project, server.url, pause=0.0002)
    try:
        child.until(2000)
        child.kill9()
        rcs = [mlops_sync(repo, project, server.url)]
        out = count(server.url, child)
        out.sync_rc = rcs
        out.notes["run_status"] = _run_status(server.url, child.run_id)
        return out
    finally:
        child.close()
        stop_agents(repo, project)


def server_restart(server: Server, base: Path) -> Outcome:
    """The server is stopped mid-run and started again; the child goes on and exits."""
    repo, project = new_repo(base, "restart"), "restart"
    # Paced like a training loop (not a flood): the backlog of the outage is what the
    # agent delivers once the server is back.
    child = Child(repo, project, server.url, pause=0.002)
    try:
        child.until(1000)
        server.stop()
        child.until(child.calls + 1500)  # logged while the server is down
        rcs = [mlops_sync(repo, project, server.url, timeout=2)]  # pending: must say so
        down_at = child.calls
        server.start()
        child.watch(2.0)  # the run goes on with the server back
        child.stop()
        exit_s = child.finish()
        rcs.append(mlops_sync(repo, project, server.url))
        out = count(server.url, child)
        out.exit_s, out.sync_rc = exit_s, rcs
        out.notes["leave_run_s"] = child.leave_s  # the rest of exit_s: interpreter exit
        out.notes["acknowledged_while_down"] = down_at - 1000
        return out
    finally:
        child.close()
        stop_agents(repo, project)
        server.ensure_running()


def server_hung(server: Server, base: Path) -> Outcome:
    """SIGSTOP of the server's process group mid-run; the child must exit within the bound."""
    repo, project = new_repo(base, "hung"), "hung"
    child = Child(repo, project, server.url, total=3000, pause=0.0005)
    try:
        child.until(1000)
        server.hang()
        try:
            exit_s = child.finish()  # the rest is logged, the run ends, all while it is hung
            rcs = [mlops_sync(repo, project, server.url, timeout=2)]
        finally:
            server.resume()
        rcs.append(mlops_sync(repo, project, server.url))
        out = count(server.url, child)
        out.exit_s, out.sync_rc = exit_s, rcs
        out.notes["leave_run_s"] = child.leave_s  # the rest of exit_s: interpreter exit
        out.notes["run_status"] = _run_status(server.url, child.run_id)
        return out
    finally:
        server.resume()
        child.close()
        stop_agents(repo, project)


class MountFailedError(RuntimeError):
    """A tmpfs could not be mounted here (not root, no CAP_SYS_ADMIN)."""


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``path``; unmounted afterwards (lazily if still busy)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MountFailedError(f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def disk_full(server: Server, base: Path) -> Outcome:
    """The repository's ``.mlops`` is a 2 MB tmpfs that fills up mid-run.

    ``log_metrics`` must raise ``MLOpsClientError``; once a ballast file is
    removed the child logs on, and every point acknowledged before is delivered.
    """
    repo, project = new_repo(base, "full"), "full"
    with tmpfs(repo / ".mlops", "2m") as mount:
        ballast = mount / "ballast"
        ballast.write_bytes(b"\0" * (1536 * 1024))  # leaves about 0.5 MB for the log
        child = Child(repo, project, server.url, width=40, pause=0.0)
        try:
            kind = child.until(1_000_000)
            if kind != "error":
                raise RuntimeError(f"the disk never filled up ({kind}): {child._err()}")
            full_at = child.acknowledged
            ballast.unlink()
            child.send("retry 50")
            exit_s = child.finish()
            rcs = [mlops_sync(repo, project, server.url)]
            out = count(server.url, child)
            out.exit_s, out.sync_rc = exit_s, rcs
            out.notes["leave_run_s"] = child.leave_s  # the rest of exit_s: interpreter exit
            out.notes["acknowledged_before_full"] = full_at
            out.notes["error_types"] = child.errors[0]["types"]
            out.notes["error"] = child.errors[0]["message"][:200]
            return out
        finally:
            child.close()
            stop_agents(repo, project)


def proxy_faults(server: Server, base: Path) -> Outcome:
    """Through a TCP proxy: refused, cut (answers dropped), delayed and stalled connections.

    The child ends its run while the proxy stalls everything (its exit is
    bounded); after that the proxy passes again and ``mlops sync`` finishes.
    """
    repo, project = new_repo(base, "proxy"), "proxy"
    with FaultProxy(("127.0.0.1", server.port), delay=0.3) as proxy:
        child = Child(repo, project, proxy.url, pause=0.0005)
        try:
            child.until(500)
            modes = {}
            for mode in ("refuse", "cut", "delay"):  # each longer than a delivery interval
                proxy.set_mode(mode)
                before = proxy.connections
                child.watch(3.0)
                modes[mode] = proxy.connections - before
            proxy.set_mode("stall")
            child.watch(1.0)
            child.stop()
            exit_s = child.finish()
            rcs = [mlops_sync(repo, project, proxy.url, timeout=2)]  # still stalled: pending
            proxy.set_mode("pass")
            rcs.append(mlops_sync(repo, project, proxy.url))
            out = count(server.url, child)
            out.exit_s, out.sync_rc = exit_s, rcs
            out.notes["leave_run_s"] = child.leave_s  # the rest of exit_s: interpreter exit
            out.notes["new_connections_per_mode"] = modes
            return out
        finally:
            proxy.set_mode("pass")
            child.close()
            stop_agents(repo, project)


def slow_delivery_at_exit(server: Server, base: Path) -> Outcome:
    """The run ends while delivery progresses, slowly (each chunk 0.3 s late, via the proxy:
    slower than logging even with several batches in flight).

    Leaving ``start_run`` and the interpreter's exit together must stay within
    one ``flush_timeout`` although every wait sees progress.
    """
    repo, project = new_repo(base, "slow"), "slow"
    with FaultProxy(("127.0.0.1", server.port), delay=0.3) as proxy:
        child = Child(repo, project, proxy.url, pause=0.0001)
        try:
            proxy.set_mode("delay")
            child.until(20_000)
            child.watch(3.0)  # delivery under way, slower than logging: a backlog at the end
            child.stop()
            exit_s = child.finish()
            proxy.set_mode("pass")
            rcs = [mlops_sync(repo, project, proxy.url)]
            out = count(server.url, child)
            out.exit_s, out.sync_rc = exit_s, rcs
            out.notes["leave_run_s"] = child.leave_s  # the rest of exit_s: interpreter exit
            return out
        finally:
            proxy.set_mode("pass")
            child.close()
            stop_agents(repo, project)


def concurrent_adoption(server: Server, base: Path) -> Outcome:
    """Four processes log to one project; two are kill -9'd; the agent adopts their logs.

    Nothing runs ``mlops sync`` until the agent (kept alive by the survivors)
    has delivered the dead writers' segments on its own.
    """
    repo, project = new_repo(base, "many"), "many"
    children = [
        Child(repo, project, server.url, name=f"w{n}", total=-1 if n < 2 else 4000)
        for n in range(4)
    ]
    try:
        for child in children[:2]:
            child.until(1000)
        for child in children[:2]:
            child.kill9()
        exits = [child.finish() for child in children[2:]]
        adopted = wait_for(lambda: pending_bytes(repo, project) == 0, 60)
        rcs = [mlops_sync(repo, project, server.url)]
        out = Outcome(exit_s=max(exits), sync_rc=rcs)
        for child in children:
            out.add(count(server.url, child))
        out.notes["adopted_without_sync"] = adopted
        out.notes["killed_runs_status"] = [_run_status(server.url, c.run_id) for c in children[:2]]
        return out
    finally:
        for child in children:
            child.close()
        stop_agents(repo, project)


def _run_status(uri: str, run_id: str) -> str:
    from mlflow import MlflowClient

    return str(MlflowClient(tracking_uri=uri).get_run(run_id).info.status)


SCENARIOS: dict[str, Callable[[Server, Path], Outcome]] = {
    "kill9_mid_write": kill9_mid_write,
    "server_restart": server_restart,
    "server_hung": server_hung,
    "disk_full": disk_full,
    "proxy_faults": proxy_faults,
    "slow_delivery_at_exit": slow_delivery_at_exit,
    "concurrent_adoption": concurrent_adoption,
}
