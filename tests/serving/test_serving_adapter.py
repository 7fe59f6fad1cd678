"""The BentoML adapter on real BentoML: per-project homes, labels, Docker check, server start."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mlops.config import load_settings
from mlops.errors import ConnectionFailedError, InvalidInputError
from mlops.serving._bentoml import BentoMLDeployer, docker_problem
from mlops.serving.server import ModelServer, free_port, port_in_use
from mlops.serving.sources import labels_as_strings


def deployer_at(home: Path) -> BentoMLDeployer:
    """The adapter of a project whose BentoML home is ``home``."""
    settings = load_settings(
        "p", repo_root=home.parent, overrides={"serving_bentoml_home": str(home)}
    )
    return BentoMLDeployer(settings)


def test_each_deployer_uses_its_own_home(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "w.txt").write_text("1")
    a, b = deployer_at(tmp_path / "a"), deployer_at(tmp_path / "b")
    tag_a = a.import_model("m", "v1", files, {"project": "a"}, {"kind": "predictor", "x": None})
    tag_b = b.import_model("m", "v2", files, {"project": "b"}, {"kind": "predictor"})
    assert (tag_a, tag_b) == ("m:v1", "m:v2")
    assert a.model_exists("m:v1") and not a.model_exists("m:v2")
    assert b.model_exists("m:v2") and not b.model_exists("m:v1")
    assert (tmp_path / "a" / "models" / "m" / "v1" / "model" / "w.txt").is_file()
    found = a.find("m:v1")
    assert found["kind"] == "model" and found["labels"] == {"project": "a"}
    assert found["metadata"] == {"kind": "predictor", "x": None}
    assert a.model_file("m:v1", "w.txt") == Path(found["path"]) / "model" / "w.txt"


def test_labels_as_strings() -> None:
    labels = labels_as_strings({"run_id": "abc", "none": None, "data": [{"md5": "x"}], "n": 1})
    assert labels == {"run_id": "abc", "data": '[{"md5":"x"}]', "n": "1"}


def test_containerize_of_a_model_tag_is_rejected(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    deployer = deployer_at(tmp_path / "home")
    deployer.import_model("m", "v1", files, {}, {})
    with pytest.raises(InvalidInputError, match="is a model, not a Bento"):
        deployer.containerize("m:v1")


def test_docker_problem_says_why() -> None:
    problem = docker_problem()
    if problem is None:
        pytest.skip("a Docker engine runs here")
    assert "Docker" in problem


def test_ports() -> None:
    port = free_port()
    assert not port_in_use("127.0.0.1", port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_in_use("127.0.0.1", port)


def test_a_server_that_exits_early_is_reported_with_its_log(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "BENTOML_DO_NOT_TRACK": "true"}
    server = ModelServer(
        "ghost:v1",
        ["ghost:v1"],
        host="127.0.0.1",
        port=free_port(),
        env=env,
        cwd=tmp_path,
        log_path=tmp_path / "logs" / "ghost.log",
    )
    with pytest.raises(ConnectionFailedError, match="exited with code") as info:
        server.wait_ready(60)
    assert info.value.details["log"].endswith("ghost.log")
    assert not server.running and server.stop() is False
    assert server.latency_stats() == {"count": 0.0}
