"""A team's Bento registry on real BentoML: a Bento built in one repository is pushed, and a
second repository with its own BentoML store (another machine's) pulls and serves it.

The registry is a shared folder, and an S3 bucket on a real ``moto_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.client import MLOpsClient
from mlops.errors import ConfigurationError, InvalidInputError, NotFoundError

from .test_versioning import _bucket, _start_moto, _stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def _train(client: MLOpsClient) -> str:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    with client.start_run(run_name="fit") as run:
        client.log_model(
            LogisticRegression(max_iter=300).fit(x, y),
            "model",
            registered_model_name="iris-shared",
        )
    return run.info.run_id


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    proc, endpoint = _start_moto()
    yield endpoint
    _stop(proc)


def _machines(tmp_path: Path, **serving: Any) -> tuple[MLOpsClient, MLOpsClient]:
    """Two repositories (two BentoML stores) on one tracking store and one registry."""
    store = f"sqlite:///{tmp_path / 'team-mlflow.db'}"
    made = []
    for host in ("host-a", "host-b"):
        root = tmp_path / host
        root.mkdir()
        made.append(
            MLOpsClient.from_project("shared", repo_root=root, tracking_uri=store, serving=serving)
        )
    return made[0], made[1]


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_a_bento_pushed_on_one_machine_serves_on_another(
    where: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "s3":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        endpoint = request.getfixturevalue("moto")
        serving = {
            "registry": f"s3://{_bucket(endpoint, 'bentos')}/team",
            "registry_endpoint_url": endpoint,
            "registry_timeout": 10,
        }
    else:
        serving = {"registry": str(tmp_path / "shared-registry")}
    a, b = _machines(tmp_path, **serving)
    try:
        run_id = _train(a)
        deployed = a.deploy_model("models:/iris-shared/1", "iris-shared", "v1", push=True)
        tag = deployed["bento_tag"]
        assert deployed["registry_url"].endswith("/iris-shared/v1.bento")
        assert a.push_bento(tag)["pushed"] is False  # idempotent: versions are immutable
        with a.serve(tag) as server:
            expected = server.predict(ROWS)

        assert not (tmp_path / "host-b" / ".mlops" / "bentoml" / "bentos" / "iris-shared").exists()
        with b.serve(tag) as server:  # not in B's store: pulled from the registry
            assert server.predict(ROWS) == expected
        pulled = b.pull_bento("iris-shared")  # latest; B has it now
        assert pulled["tag"] == tag and pulled["pulled"] is False
        assert pulled["labels"]["run_id"] == run_id
        assert pulled["labels"]["registered_model"] == "iris-shared"
        assert [e["tag"] for e in b.list_registry()] == [tag]
    finally:
        a.close(timeout=10)
        b.close(timeout=10)


def test_push_without_a_registry_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    client = MLOpsClient.from_project(
        "alone", repo_root=tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}"
    )
    try:
        _train(client)
        with pytest.raises(ConfigurationError, match="no Bento registry") as info:
            client.deploy_model("models:/iris-shared/1", "iris-alone", "v1", push=True)
        assert "MLOPS_SERVING_REGISTRY" in (info.value.hint or "")
        assert not (tmp_path / ".mlops" / "bentoml" / "bentos" / "iris-alone").exists()
    finally:
        client.close(timeout=10)


def test_pull_of_an_unknown_or_malformed_tag_says_what_to_do(tmp_path: Path) -> None:
    a, b = _machines(tmp_path, registry=str(tmp_path / "empty-registry"))
    try:
        with pytest.raises(NotFoundError, match="holds no Bento") as info:
            b.pull_bento("nothing:v9")
        assert "bento push" in (info.value.hint or "")
        with pytest.raises(NotFoundError):
            b.serve("nothing:v9")
        with pytest.raises(InvalidInputError, match="name:version"):
            a.push_bento("a/b:c")
    finally:
        a.close(timeout=10)
        b.close(timeout=10)


def test_the_bento_commands_push_list_and_pull(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    registry = tmp_path / "shared-registry"
    a, b = _machines(tmp_path, registry=str(registry))
    try:
        _train(a)
        tag = a.deploy_model("models:/iris-shared/1", "iris-cli", "v2")["bento_tag"]
    finally:
        a.close(timeout=10)
        b.close(timeout=10)
    mlops = str(Path(sys.executable).with_name("mlops"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env |= {"MLOPS_SERVING_REGISTRY": str(registry), "MLOPS_PROJECT": "shared"}

    def run(root: str, *argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [mlops, "bento", *argv, "--repo-root", str(tmp_path / root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    assert "no Bento yet" in run("host-b", "list").stdout
    assert f"pushed {tag}" in run("host-a", "push", tag).stdout
    assert "already in the registry" in run("host-a", "push", tag).stdout
    assert tag in run("host-b", "list").stdout
    pulled = run("host-b", "pull", "iris-cli")
    assert f"pulled {tag}" in pulled.stdout
    assert f"serve {tag} -p shared --repo-root {tmp_path / 'host-b'}" in pulled.stderr
    assert (tmp_path / "host-b" / ".mlops" / "bentoml" / "bentos" / "iris-cli" / "v2").is_dir()
