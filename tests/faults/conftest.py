"""Fixtures of the fault-injection suite: one PostgreSQL-backed MLflow server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import Server, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``mlflow server`` on a fresh PostgreSQL database (skips without psycopg2)."""
    pytest.importorskip("psycopg2")
    with running_server(tmp_path_factory.mktemp("mlflow-server")) as srv:
        yield srv


@pytest.fixture
def live_server(server: Server) -> Server:
    """The module's server, resumed and started again if an earlier scenario left it down."""
    server.ensure_running()
    return server
