"""Data versioning on real DVC in real git repositories, with a local and an S3 remote.

The S3 API is a real ``moto_server`` process on 127.0.0.1 (started once per
session, stopped by PID); credentials are fake and come from the environment.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.client import MLOpsClient
from mlops.errors import (
    ComponentUnavailableError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
)
from tests.conftest import free_port

try:
    from tests.conftest import uninstall
except ModuleNotFoundError:  # run by the `pytest` script: no `tests` package on sys.path
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    assert _spec and _spec.loader
    _root_conftest = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_root_conftest)
    uninstall = _root_conftest.uninstall

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
FAKE_SECRET = "fake-secret-Zq9"


# -- services and helpers -------------------------------------------------------------------


def _start_moto(
    extra_env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port(host)
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return proc, f"http://{host}:{port}"
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError("moto_server did not start within 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto_server) on 127.0.0.1 and a free port."""
    proc, endpoint = _start_moto()
    yield endpoint
    _stop(proc)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials from the environment only; no profile or config file leaks in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _bucket(endpoint: str, name: str) -> str:
    import boto3

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def _keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def _client(repo: Path, project: str = "test-project", **data: Any) -> MLOpsClient:
    return MLOpsClient.from_project(project, repo_root=repo, data=data)


def _make_data(root: Path, kind: str) -> Path:
    if kind == "file":
        target = root / "data" / "blob.bin"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(300_000))
        return target
    target = root / "data" / "images"
    for i in range(12):
        sub = target / f"class{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img{i}.bin").write_bytes(os.urandom(1000 + i))
    return target


def _digests(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {
        str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def _dvc_md5(dvc_file: Path) -> str:
    match = re.search(r"md5: (\S+)", dvc_file.read_text())
    assert match, dvc_file.read_text()
    return match.group(1)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _pushed_and_cloned(
    repo: Path, client: MLOpsClient, tmp_path: Path, *to_commit: str
) -> tuple[Path, dict[str, str]]:
    """A file and a folder added and pushed, ``to_commit`` committed, the repo cloned."""
    file, folder = _make_data(repo, "file"), _make_data(repo, "folder")
    expected = {**_digests(file), **_digests(folder)}
    client.dvc_add(file)
    client.dvc_add(folder)
    client.dvc_push()
    _git(repo, "add", *to_commit)
    _git(repo, "commit", "-qm", "data")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    return clone, expected


# -- the round trip -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "folder"])
@pytest.mark.parametrize("where", ["local", "s3"])
def test_add_push_delete_pull_is_byte_identical(
    repo: Path, where: str, kind: str, request: pytest.FixtureRequest
) -> None:
    data: dict[str, Any] = {}
    if where == "s3":
        request.getfixturevalue("aws_env")
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = _bucket(endpoint, f"rt-{kind}")
        data = {"remote_url": f"s3://{bucket}/shared", "endpoint_url": endpoint, "timeout": 10}
    target = _make_data(repo, kind)
    before = _digests(target)
    client = _client(repo, **data)
    try:
        version = client.dvc_add(target)
        assert version["md5"] == _dvc_md5(repo / version["dvc_file"])
        assert version["md5"].endswith(".dir") == (kind == "folder")
        assert version["nfiles"] == len(before)
        assert version["size"] == sum(
            p.stat().st_size for p in [target, *target.rglob("*")] if p.is_file()
        )

        pushed = client.dvc_push()
        assert pushed["pushed"] == len(before) + (kind == "folder")  # + the .dir listing
        assert pushed["bytes"] >= version["size"]
        assert client.dvc_push()["pushed"] == 0  # nothing left to send
        assert client.dvc_status()["clean"]

        _remove(target)
        shutil.rmtree(repo / ".dvc" / "cache")
        pulled = client.dvc_pull()
        assert pulled["fetched"] >= len(before)
        assert pulled["bytes"] >= version["size"]
        assert _digests(target) == before
    finally:
        client.close(timeout=10)
    if where == "s3":
        keys = _keys(data["endpoint_url"], data["remote_url"].split("/")[2])
        assert keys and all(k.startswith("shared/test-project/files/md5/") for k in keys)
    else:
        assert (repo / ".mlops" / "dvc-remote" / "test-project" / "files" / "md5").is_dir()
    assert "/.mlops/" in (repo / ".dvcignore").read_text().splitlines()
    # DVC keeps its site cache inside .mlops, not in the system temp folder.
    assert "site_cache_dir" in (repo / ".dvc" / "config.local").read_text()
    assert (repo / ".mlops" / "dvc-site-cache").is_dir()


def _cache_object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


@pytest.mark.parametrize("cache_place", ["in-repo", "shared"])
def test_pull_counts_the_bytes_it_brought(repo: Path, tmp_path: Path, cache_place: str) -> None:
    """bytes = the objects the pull wrote into the cache, not those already there."""
    cache = repo / ".dvc" / "cache"
    client = _client(repo)
    try:
        if cache_place == "shared":  # a cache outside the repository (cache.dir)
            cache = tmp_path / "shared-cache"
            client.dvc_status(cloud=False)  # the client initialises DVC
            (repo / ".dvc" / "config.local").write_text(
                (repo / ".dvc" / "config.local").read_text() + f"[cache]\n    dir = {cache}\n"
            )
        target = _make_data(repo, "folder")
        version = client.dvc_add(target)
        client.dvc_push()
        listing = _cache_object(cache, version["md5"])
        one = next(iter(sorted(target.rglob("img1.bin"))))
        one_md5 = hashlib.md5(one.read_bytes()).hexdigest()
        assert _cache_object(cache, one_md5).is_file()

        _remove(target)
        _cache_object(cache, one_md5).unlink()  # one file's object is missing, the rest are there
        pulled = client.dvc_pull()
        assert pulled["bytes"] == one.stat().st_size == 1001

        _remove(target)
        shutil.rmtree(cache)
        pulled = client.dvc_pull()
        assert pulled["bytes"] == version["size"] + listing.stat().st_size
        assert client.dvc_pull()["bytes"] == 0  # nothing new
    finally:
        client.close(timeout=10)


def test_plain_dvc_in_a_fresh_clone_pulls_what_the_client_pushed(
    repo: Path, client: MLOpsClient, tmp_path: Path
) -> None:
    clone, expected = _pushed_and_cloned(
        repo, client, tmp_path, ".dvc/config", ".dvcignore", "data"
    )
    assert not (clone / "data" / "blob.bin").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PYTHON"))}
    env["DVC_SITE_CACHE_DIR"] = str(tmp_path / "clone-site-cache")  # keep /var/tmp clean
    done = subprocess.run(
        [str(BIN / "dvc"), "pull"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = {**_digests(clone / "data" / "blob.bin"), **_digests(clone / "data" / "images")}
    assert got == expected


def test_projects_sharing_a_remote_cannot_pull_each_others_data(repo: Path) -> None:
    first, second = _client(repo, "proj-a"), _client(repo, "proj-b")
    try:
        target = _make_data(repo, "file")
        first.dvc_add(target)
        assert first.dvc_push()["pushed"] == 1
        assert not (repo / ".mlops" / "dvc-remote" / "proj-b").exists()
        _remove(target)
        shutil.rmtree(repo / ".dvc" / "cache")
        with pytest.raises(MLOpsClientError) as info:
            second.dvc_pull([target])
        assert info.value.component == "versioning"
        assert first.dvc_pull([target])["fetched"] == 1
    finally:
        first.close(timeout=10)
        second.close(timeout=10)


def test_an_interrupted_push_completes_when_retried(repo: Path, client: MLOpsClient) -> None:
    folder = repo / "data" / "many"
    folder.mkdir(parents=True)
    for i in range(600):
        (folder / f"{i:04}.bin").write_bytes(os.urandom(2048))
    before = _digests(folder)
    client.dvc_add(folder)
    remote = repo / ".mlops" / "dvc-remote" / "test-project"
    script = (
        "from mlops.client import MLOpsClient\n"
        f"MLOpsClient.from_project('test-project', repo_root={str(repo)!r}).dvc_push()\n"
    )
    env = {**os.environ, "MLOPS_DATA_JOBS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=repo)
    try:
        while proc.poll() is None and _count_files(remote) < 20:
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    partial = _count_files(remote)
    assert 0 < partial < len(before) + 1, "the push was not interrupted part-way"

    result = client.dvc_push()
    assert result["pushed"] + partial >= len(before) + 1
    assert _count_files(remote) >= len(before) + 1
    shutil.rmtree(folder)
    shutil.rmtree(repo / ".dvc" / "cache")
    client.dvc_pull([folder])
    assert _digests(folder) == before


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


# -- lineage ---------------------------------------------------------------------------------------


def test_a_run_records_the_data_version_it_used(repo: Path, client: MLOpsClient) -> None:
    (repo / "README").write_text("r")
    _git(repo, "add", "README")
    _git(repo, "commit", "-qm", "init")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = repo / "train.csv"
    target.write_text("x,y\n1,2\n")
    with client.start_run(run_name="v1") as run1:
        v1 = client.dvc_add(target)
    target.write_text("x,y\n1,2\n3,4\n")
    with client.start_run(run_name="v2") as run2:
        v2 = client.dvc_add(target, context="validation")
    old_id, new_id = run1.info.run_id, run2.info.run_id

    stored = client.mlflow_client.get_run(old_id).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest, d.dataset.source_type) for d in stored] == [
        ("train.csv", v1["md5"], "dvc")
    ]
    assert v2["md5"] != v1["md5"] == client.get_data_versions(old_id)[0]["md5"]
    assert _dvc_md5(repo / "train.csv.dvc") == v2["md5"]
    (new,) = client.get_data_versions(new_id)
    assert (new["md5"], new["context"], new["nfiles"]) == (v2["md5"], "validation", 1)
    assert new["remote"].endswith("dvc-remote/test-project")
    assert new["rev"] == head == v1["rev"]

    (old_row,) = client.compare_data_versions(old_id)
    (new_row,) = client.compare_data_versions(new_id)
    assert old_row["changed"] and old_row["current_md5"] == v2["md5"]
    assert not new_row["changed"]


def test_pull_inside_a_run_records_the_versions_pulled(repo: Path, client: MLOpsClient) -> None:
    folder = _make_data(repo, "folder")
    version = client.dvc_add(folder)
    client.dvc_push()
    shutil.rmtree(folder)
    with client.start_run() as run:
        client.dvc_pull([folder])
    (recorded,) = client.get_data_versions(run.info.run_id)
    assert recorded["md5"] == version["md5"] and recorded["path"] == "data/images"
    assert recorded["context"] == "training"


def test_recursive_add_tracks_each_file_and_records_each_on_the_run(
    repo: Path, client: MLOpsClient
) -> None:
    folder = _make_data(repo, "folder")
    with client.start_run() as run:
        result = client.dvc_add(folder, recursive=True)
    assert result["nfiles"] == 12 and result["md5"] is None
    assert all((repo / f["dvc_file"]).is_file() for f in result["files"])
    recorded = {v["path"]: v["md5"] for v in client.get_data_versions(run.info.run_id)}
    assert recorded == {f["path"]: f["md5"] for f in result["files"]}
    client.dvc_push()
    (folder / "class0" / "img0.bin").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    assert client.dvc_pull([folder / "class0" / "img0.bin"])["fetched"] == 1
    assert (folder / "class0" / "img0.bin").is_file()


def test_data_outside_a_run_records_nothing_and_unknown_runs_are_not_found(
    repo: Path, client: MLOpsClient
) -> None:
    (repo / "a.txt").write_text("a")
    client.dvc_add("a.txt")
    with client.start_run() as run:
        pass
    assert client.get_data_versions(run.info.run_id) == []
    with pytest.raises(NotFoundError):
        client.get_data_versions("0" * 32)


# -- bad input -------------------------------------------------------------------------------------


def test_a_missing_path_is_rejected_before_anything_is_written(
    repo: Path, client: MLOpsClient
) -> None:
    with pytest.raises(NotFoundError) as info:
        client.dvc_add("nope.csv")
    assert (info.value.component, info.value.operation) == ("versioning", "dvc_add")
    assert not (repo / ".dvc").exists()


def test_a_path_outside_the_repo_is_rejected(
    repo: Path, client: MLOpsClient, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("1")
    with pytest.raises(InvalidInputError, match="outside the repository"):
        client.dvc_add(outside)
    assert not (repo / ".dvc").exists()


def test_a_path_git_already_tracks_is_rejected(repo: Path, client: MLOpsClient) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("1")
    _git(repo, "add", "data/x.csv")
    _git(repo, "commit", "-qm", "x")
    for path in ("data/x.csv", "data"):
        with pytest.raises(InvalidInputError) as info:
            client.dvc_add(path)
        assert "git rm -r --cached" in (info.value.hint or "")
    assert not (repo / ".dvc").exists()


@pytest.mark.timeout(60)  # the bound under test: data.timeout plus DVC start-up
@pytest.mark.parametrize("userinfo", ["", "alice:s3cr3t@"])
def test_an_unreachable_remote_fails_within_the_timeout_naming_it_redacted(
    repo: Path, aws_env: None, userinfo: str
) -> None:
    endpoint = f"http://{userinfo}127.0.0.1:{free_port()}"
    client = _client(repo, remote_url="s3://bucket/x", endpoint_url=endpoint, timeout=2)
    try:
        (repo / "a.txt").write_text("a")
        client.dvc_add("a.txt")
        with pytest.raises(ConnectionFailedError) as info:
            client.dvc_push()
    finally:
        client.close(timeout=10)
    text = str(info.value)
    assert "mlops-test-project" in text and "s3://bucket/x/test-project" in text
    assert "s3cr3t" not in text and FAKE_SECRET not in text
    assert info.value.operation == "dvc_push"


@pytest.fixture(scope="module")
def s3_with_auth() -> Iterator[str]:
    """A moto_server that checks credentials (none are valid)."""
    proc, endpoint = _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    yield endpoint
    _stop(proc)


def test_an_unauthorised_remote_names_the_remote_and_hides_the_secret(
    repo: Path, aws_env: None, s3_with_auth: str
) -> None:
    client = _client(repo, remote_url="s3://locked", endpoint_url=s3_with_auth, timeout=5)
    try:
        (repo / "a.txt").write_text("a")
        client.dvc_add("a.txt")
        with pytest.raises(ConnectionFailedError) as info:
            client.dvc_push()
    finally:
        client.close(timeout=10)
    text = str(info.value)
    assert "mlops-test-project" in text and "refused access" in text and "credentials" in text
    assert FAKE_SECRET not in text


def test_credentials_in_the_committed_dvc_config_are_refused(
    repo: Path, client: MLOpsClient
) -> None:
    (repo / "a.txt").write_text("a")
    client.dvc_add("a.txt")
    config = repo / ".dvc" / "config"
    config.write_text(
        config.read_text() + "['remote \"other\"']\n    url = s3://b\n"
        "    secret_access_key = leaked\n"
    )
    fresh = _client(repo)
    try:
        with pytest.raises(ConfigurationError, match="--local") as info:
            fresh.dvc_push()
    finally:
        fresh.close(timeout=10)
    assert "leaked" not in str(info.value)


def test_without_dvc_installed_every_operation_names_the_install_command(
    repo: Path, client: MLOpsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninstall(monkeypatch, "dvc")
    (repo / "a.txt").write_text("a")
    for call in (
        lambda: client.dvc_add("a.txt"),
        client.dvc_push,
        client.dvc_pull,
        client.dvc_status,
    ):
        with pytest.raises(ComponentUnavailableError) as info:
            call()
        assert info.value.component == "versioning"
        assert "mlops[versioning]" in (info.value.hint or "")


def test_credentials_from_dvc_local_config_are_used(
    repo: Path, aws_env: None, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _bucket(s3_endpoint, "local-creds")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    client = _client(repo, remote_url=f"s3://{bucket}", endpoint_url=s3_endpoint, timeout=10)
    try:
        (repo / "a.txt").write_text("a")
        client.dvc_add("a.txt")
        local = repo / ".dvc" / "config.local"
        local.write_text(
            local.read_text() + "['remote \"mlops-test-project\"']\n"
            "    access_key_id = from-local-config\n    secret_access_key = local-secret\n"
        )
        assert client.dvc_push()["pushed"] == 1
    finally:
        client.close(timeout=10)
    assert "local-secret" not in (repo / ".dvc" / "config").read_text()
    assert _keys(s3_endpoint, bucket) != []


def test_outside_git_dvc_is_initialised_without_scm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    monkeypatch.chdir(root)
    (root / "a.txt").write_text("a")
    client = _client(root)
    try:
        version = client.dvc_add("a.txt")
        assert client.dvc_push()["pushed"] == 1
    finally:
        client.close(timeout=10)
    assert version["rev"] is None
    assert "no_scm = True" in (root / ".dvc" / "config").read_text()


def test_the_remote_follows_the_settings(repo: Path, tmp_path: Path) -> None:
    (repo / "a.txt").write_text("a")
    first = _client(repo)
    first.dvc_add("a.txt")
    first.close(timeout=10)
    moved = tmp_path / "shared-remote"
    second = _client(repo, remote_url=str(moved))
    try:
        assert second.dvc_push()["url"] == str(moved / "test-project")
    finally:
        second.close(timeout=10)
    config = (repo / ".dvc" / "config").read_text()
    assert str(moved / "test-project") in config and "remote = mlops-test-project" in config


def test_credentials_in_the_endpoint_never_reach_a_committed_file_or_a_log(
    repo: Path, aws_env: None, s3_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    secret = "end-point-Pw7"
    bucket = _bucket(s3_endpoint, "creds")
    with_userinfo = s3_endpoint.replace("http://", f"http://keyid:{secret}@")
    client = _client(repo, remote_url=f"s3://{bucket}/p", endpoint_url=with_userinfo, timeout=10)
    caplog.set_level(logging.DEBUG, logger="botocore")
    caplog.set_level(logging.DEBUG, logger="s3fs")
    try:
        (repo / "a.txt").write_text("a")
        client.dvc_add("a.txt")
        assert client.dvc_push()["pushed"] == 1
    finally:
        client.close(timeout=10)
    committed = (repo / ".dvc" / "config").read_text()
    assert secret not in committed and s3_endpoint in committed  # the endpoint, bare
    assert secret in (repo / ".dvc" / "config.local").read_text()  # DVC's place for secrets
    ignored = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", ".dvc/config.local"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.returncode == 0  # git ignores it: it cannot be committed by accident
    assert caplog.records and all(secret not in r.getMessage() for r in caplog.records)


# -- a team's repository: clones, remote switches, what git sees --------------------------------


def test_a_clone_pulls_with_the_committed_remote_and_writes_nothing_committed(
    repo: Path, client: MLOpsClient, tmp_path: Path
) -> None:
    clone, expected = _pushed_and_cloned(repo, client, tmp_path, "-A")
    committed = (clone / ".dvc" / "config").read_text()
    second = _client(clone)  # a teammate: no remote setting of its own
    try:
        pulled = second.dvc_pull()
    finally:
        second.close(timeout=10)
    got = {**_digests(clone / "data" / "blob.bin"), **_digests(clone / "data" / "images")}
    assert got == expected
    assert sorted(pulled["added"]) == ["data/blob.bin", "data/images"]
    assert pulled["url"] == str(repo / ".mlops" / "dvc-remote" / "test-project")
    assert (clone / ".dvc" / "config").read_text() == committed
    status = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""  # nothing to commit: data, .mlops/ and config.local are ignored


def test_pull_reports_the_files_it_added_and_changed(repo: Path, client: MLOpsClient) -> None:
    (repo / "a.txt").write_text("a")
    (repo / "b.txt").write_text("b")
    client.dvc_add("a.txt")
    client.dvc_add("b.txt")
    (repo / "a.txt").unlink()
    (repo / "b.txt").write_text("edited, not added")
    pulled = client.dvc_pull(force=True)
    assert pulled["added"] == ["a.txt"]
    assert pulled["modified"] == ["b.txt"]
    assert (repo / "a.txt").read_text() == "a" and (repo / "b.txt").read_text() == "b"
    assert client.dvc_pull()["added"] == []  # nothing left to do


def test_switching_from_an_s3_remote_back_to_a_folder_rewrites_the_entry(
    repo: Path, aws_env: None, s3_endpoint: str, tmp_path: Path
) -> None:
    bucket = _bucket(s3_endpoint, "switch")
    with_userinfo = s3_endpoint.replace("http://", "http://keyid:switch-Pw3@")
    s3 = _client(
        repo, remote_url=f"s3://{bucket}/p", endpoint_url=with_userinfo, region="us-east-1"
    )
    (repo / "a.txt").write_text("a")
    try:
        s3.dvc_add("a.txt")
        assert s3.dvc_push()["pushed"] == 1
    finally:
        s3.close(timeout=10)
    assert "endpointurl" in (repo / ".dvc" / "config").read_text()
    folder = tmp_path / "back-home"
    local = _client(repo, remote_url=str(folder))
    try:
        assert local.dvc_status(cloud=False)["clean"]
        assert local.dvc_push()["pushed"] == 1
    finally:
        local.close(timeout=10)
    committed = (repo / ".dvc" / "config").read_text()
    assert "endpointurl" not in committed and "region" not in committed
    assert str(folder / "test-project") in committed
    assert "switch-Pw3" not in (repo / ".dvc" / "config.local").read_text()
    done = subprocess.run(
        [str(BIN / "dvc"), "status", "-c"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr  # plain DVC reads the config too


def test_the_workspace_is_never_committed(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "train.csv").write_text("x,y\n1,2\n")
    client = _client(root)
    try:
        client.dvc_add("train.csv")
        client.dvc_push()
        with client.start_run():
            client.log_metrics({"loss": 1.0})
    finally:
        client.close(timeout=10)
    assert (root / ".mlops" / "dvc-remote").is_dir() and (root / ".mlops" / "mlflow.db").exists()
    _git(root, "add", "-A")
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed and not [p for p in listed if p.startswith(".mlops/")]
    assert "train.csv.dvc" in listed and "train.csv" not in listed


def test_a_push_and_a_pull_of_several_outputs_build_one_s3_client_each(
    repo: Path, aws_env: None, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DVC builds an S3 filesystem (and a botocore client, ~0.1 s of CPU) per remote
    lookup: for the reachability probe and for each output. One operation uses one."""
    import s3fs

    built: list[int] = []
    original = s3fs.S3FileSystem.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "__init__", counted)
    bucket = _bucket(s3_endpoint, "one-client")
    client = _client(repo, remote_url=f"s3://{bucket}", endpoint_url=s3_endpoint, timeout=10)
    try:
        for name in ("a", "b", "c"):
            (repo / f"{name}.txt").write_text(name)
            client.dvc_add(f"{name}.txt")
        built.clear()
        assert client.dvc_push()["pushed"] == 3
        assert len(built) == 1
        for name in ("a", "b", "c"):
            (repo / f"{name}.txt").unlink()
        shutil.rmtree(repo / ".dvc" / "cache")
        built.clear()
        pulled = client.dvc_pull()
        assert len(built) == 1
    finally:
        client.close(timeout=10)
    assert pulled["added"] == ["a.txt", "b.txt", "c.txt"]
    assert (repo / "b.txt").read_text() == "b"
