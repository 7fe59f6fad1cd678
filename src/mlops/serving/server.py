"""A local BentoML server as a child process, and the handle that talks to it.

``bentoml serve`` (the arbiter) starts worker processes in sessions of their
own that outlive it when it is killed, so :meth:`ModelServer.stop` ends the
arbiter and every worker it recorded, by PID (checked against reuse), and
never touches a process it did not start. Readiness is ``GET /readyz`` answering 200,
bounded by ``serving.ready_timeout``. Standard library and psutil.
"""

from __future__ import annotations

import atexit
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from mlops.errors import ConnectionFailedError, InvalidInputError, OperationTimeoutError
from mlops.serving.template import PREDICT_ROUTE

__all__ = ["ModelServer", "free_port", "port_in_use"]

# Servers not stopped yet: stopped at interpreter exit, so none outlives its parent.
_LIVE: set[ModelServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(timeout=5)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class ModelServer:
    """A running ``bentoml serve`` child process: call it, measure it, stop it.

    Use as a context manager to stop it on exit. Every :meth:`predict` records
    its round-trip latency (``latencies_ms``); :meth:`latency_stats` summarises
    them for monitoring (the service's own timings are in BentoML's ``/metrics``)
    (``client.monitor_predictions(..., latency_ms=server.latency_stats()["mean_ms"])``).

    Attributes:
        tag: The Bento or model tag served.
        url: ``http://host:port``.
        pid: The child's process id.
        log_path: Where the server's output goes.
    """

    def __init__(
        self,
        tag: str,
        argv: Sequence[str],
        *,
        host: str,
        port: int,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.tag, self.host, self.port, self.log_path = tag, host, port, log_path
        self.url = f"http://{host}:{port}"
        self.latencies_ms: list[float] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._workers: dict[int, psutil.Process] = {}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bentoml",
                    "serve",
                    *argv,
                    "--host",
                    host,
                    "--port",
                    str(port),
                ],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid
        _LIVE.add(self)

    def wait_ready(self, timeout: float) -> None:
        """Block until ``/readyz`` answers 200; stop the server and raise when it cannot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail_start(
                    f"the server exited with code {self.process.returncode} before it was ready"
                )
            if self._ready():
                self._snapshot_workers()
                return
            time.sleep(0.25)
        self.stop()
        raise OperationTimeoutError(
            f"the model server for {self.tag} was not ready after {timeout:.0f} s "
            f"(log: {self.log_path})",
            component="serving",
            operation="serve",
            details={"log_tail": self.log_tail()},
            hint="raise serving.ready_timeout (MLOPS_SERVING_READY_TIMEOUT) or read the log",
        )

    def _ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def _fail_start(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise ConnectionFailedError(
            f"cannot serve {self.tag}: {why}; last log lines:\n{tail}",
            component="serving",
            operation="serve",
            details={"log": str(self.log_path)},
            hint="read the log; a port in use or a model that fails to load are the usual causes",
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the server's output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        """True while the child process lives."""
        return self.process.poll() is None

    def predict(self, data: Sequence[Any]) -> list[Any]:
        """POST ``{"data": data}`` to ``/predict``; the predictions.

        Raises:
            InvalidInputError: the service answered 4xx (its message says why).
            ConnectionFailedError: the server is gone or answered 5xx.
        """
        if hasattr(data, "tolist"):  # numpy arrays
            data = data.tolist()
        status, body = self.post(PREDICT_ROUTE, json.dumps({"data": list(data)}).encode())
        if status >= 400:
            cls = InvalidInputError if status < 500 else ConnectionFailedError
            raise cls(
                f"the model server answered HTTP {status}: {body.decode(errors='replace')[:500]}",
                component="serving",
                operation="predict",
            )
        return list(json.loads(body))

    def generate(
        self, prompts: str | list[str], max_tokens: int = 64, temperature: float = 0.0
    ) -> dict[str, Any]:
        """POST prompts to ``/generate`` (text-generation Bentos); completions and token counts.

        Raises:
            InvalidInputError: the service answered 4xx (its message says why).
            ConnectionFailedError: the server is gone or answered 5xx.
        """
        from mlops.serving.generation import generate_over_http

        return generate_over_http(self, prompts, max_tokens, temperature)

    def post(self, route: str, body: bytes) -> tuple[int, bytes]:
        """POST raw ``body`` (JSON) to ``route``; the status and body.

        Uses one keep-alive connection per thread; the round trip is recorded.
        """
        start = time.perf_counter()
        try:
            status, payload = self._send(route, body)
        except (OSError, http.client.HTTPException) as exc:
            self._local.conn = None
            raise ConnectionFailedError(
                f"the model server at {self.url} did not answer: {exc}",
                component="serving",
                operation="predict",
                hint="it may have stopped; check server.running and its log " + str(self.log_path),
            ) from exc
        with self._lock:
            self.latencies_ms.append((time.perf_counter() - start) * 1000)
        return status, payload

    def _send(self, route: str, body: bytes) -> tuple[int, bytes]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return _exchange(conn, route, body)
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                conn.close()  # the server closed an idle keep-alive connection: open a new one
        conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return _exchange(conn, route, body)

    def latency_stats(self) -> dict[str, float]:
        """Count, mean, p50, p99, max of the recorded round trips (ms); the service's own mean."""
        with self._lock:
            values = sorted(self.latencies_ms)
        if not values:
            return {"count": 0.0}
        stats = {
            "count": float(len(values)),
            "mean_ms": sum(values) / len(values),
            "p50_ms": _quantile(values, 0.50),
            "p99_ms": _quantile(values, 0.99),
            "max_ms": values[-1],
        }
        return stats

    def _snapshot_workers(self) -> None:
        """Remember the server's worker processes: they run in sessions of their own
        and outlive a killed arbiter, so stop() must know them by PID."""
        try:
            found = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return
        with self._lock:
            self._workers.update({p.pid: p for p in found})

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the server and its workers; True if it was running. Safe to call again."""
        self._local.conn = None
        _LIVE.discard(self)
        was_running = self.running
        if was_running:
            self._snapshot_workers()
            self.process.terminate()  # the arbiter stops its workers gracefully
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        with self._lock:
            workers = [
                p for p in self._workers.values() if p.is_running()
            ]  # is_running checks PID reuse
        for proc in workers:
            _signal(proc, signal.SIGTERM)
        _, alive = psutil.wait_procs(workers, timeout=5)
        for proc in alive:
            _signal(proc, signal.SIGKILL)
        return was_running

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped ({self.process.returncode})"
        return f"ModelServer(tag={self.tag!r}, url={self.url!r}, pid={self.pid}, {state})"


def _exchange(conn: http.client.HTTPConnection, route: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", route, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass  # gone already


def _quantile(values: list[float], q: float) -> float:
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]
