"""Services for integration tests: a PostgreSQL database and real `mlflow server` processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"mlops_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg2.connect(PG_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:  # pragma: no cover - CI starts PostgreSQL
        pytest.fail(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


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
