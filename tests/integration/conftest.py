"""Services for integration tests: a PostgreSQL database and real `mlflow server` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.faults.harness import PG_DSN, pg_database


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(PG_DSN, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")
    with pg_database("mlops_test") as uri:
        yield uri


@dataclass
class MlflowServer:
    """A real `mlflow server` process started through mlops' own server commands."""

    root: Path
    port: int
    backend: str
    auth: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self):  # type: ignore[no-untyped-def]
        from mlops.config import load_settings

        return load_settings(
            "server-admin",
            repo_root=self.root,
            overrides={
                "server": {"backend_store_uri": self.backend, "port": self.port, "auth": self.auth}
            },
        )

    def start(self) -> None:
        from mlops.tracking.server import start_server

        start_server(self.settings())

    def stop(self) -> None:
        from mlops.tracking.server import stop_server

        stop_server(self.settings())


@pytest.fixture(scope="session")
def mlflow_server(
    postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """One PostgreSQL-backed MLflow server for the whole session."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), free_port(), postgres_uri)
    server.start()
    yield server
    server.stop()


@dataclass
class EvidentlyService:
    """A real `evidently ui` process on ``host`` and a free port, in its own process group."""

    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


def start_evidently(folder: Path, host: str = "127.0.0.1") -> EvidentlyService:
    """Start `evidently ui` on a workspace in ``folder``; return once it accepts connections."""
    port = free_port(host)
    argv = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(folder / "ws")]
    proc = subprocess.Popen(
        [*argv, "--host", host, "--port", str(port)],
        stdout=(folder / "ui.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        start_new_session=True,
    )
    service = EvidentlyService(proc, f"http://{host}:{port}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return service
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    if proc.poll() is None:
        service.stop()
    pytest.fail(f"evidently ui did not answer: {(folder / 'ui.log').read_text()[-2000:]}")
