"""Shared fixtures and helpers: a fresh repository per test, clients on real stores,
free ports, a webhook receiver, a tool made unavailable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "hardware" / "data"  # real captures; nothing outside the repo


_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def with_terminal_signals(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT as a user's terminal delivers it, for a child the test stops
    with Ctrl-C: a test run started in the background by a non-interactive shell ignores
    SIGINT, and its children would inherit that (same PID: the wrapper execs ``argv``)."""
    return [sys.executable, "-c", _TERMINAL, *argv]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def _no_agent_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop the delivery agents the tests started, by the PIDs they published.

    An agent whose server a test took away keeps retrying for telemetry.agent_linger (an
    hour by default) on purpose; nothing of a test run may stay behind on the machine.
    """
    yield
    import signal

    for status in tmp_path_factory.getbasetemp().rglob("agent-*.json"):
        try:
            pid = json.loads(status.read_text()).get("pid")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(pid, int) and pid > 0 and b"mlops.telemetry.agent" in cmdline:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's MLOPS_* settings, and none leaks variables to the next
    (MLflow exports its process-wide URIs to the environment; the CLI sets some too)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    yield
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value and not name.startswith("MLOPS_"):
            os.environ[name] = value


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh git repository, made the working directory."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "t@example.com"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.name", "t"], check=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def client(repo: Path) -> Iterator[object]:
    """A client of project ``test-project`` on the embedded sqlite store of ``repo``."""
    from mlops.client import MLOpsClient

    c = MLOpsClient.from_project("test-project", repo_root=repo)
    yield c
    c.close(timeout=10)


def require_torch() -> object:
    """torch, or skip: it is not in the lock (PyPI's default build is GBs of CUDA)."""
    return pytest.importorskip(
        "torch",
        reason="torch is not installed (it is not locked; `.ci/run` installs a CPU wheel "
        "where one is on disk, or `pip install torch` yourself)",
    )


def uninstall(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` look not installed for this test (find_spec returns None)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]


class WebhookReceiver(ThreadingHTTPServer):
    """A real HTTP endpoint on 127.0.0.1 that records JSON bodies posted to it.

    It answers 500 to the first ``fail_first`` posts, then 204.
    """

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.attempts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        if self.server.attempts <= self.server.fail_first:
            self.send_response(500)
        else:
            self.server.bodies.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    """A :class:`WebhookReceiver`; parametrize indirectly with ``fail_first``."""
    server = WebhookReceiver(getattr(request, "param", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)
