"""`mlops deploy` on an adapter folder, then `mlops serve`: the printed URL and example answer.

The real command line in subprocesses, real mlx-lm, real BentoML serving over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.mlx.conftest import mlx_greedy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

MLOPS = [sys.executable, "-c", "from mlops.cli import main; main()"]


def _mlops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [*MLOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _wait_for(log: Path, proc: subprocess.Popen[bytes], pattern: str, timeout: float) -> str:
    """The first line of ``log`` matching ``pattern``, once the server printed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if re.search(pattern, line):
                return line
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n{log.read_text()}")


def test_help_says_known_folders_need_no_predictor(tmp_path: Path) -> None:
    done = _mlops("deploy", "--help", cwd=tmp_path)
    text = re.sub(r"[\s│]+", " ", done.stdout)
    assert done.returncode == 0 and "need no --predictor" in text
    assert "mlx-lm or PEFT adapter" in text and "For folders of no known kind" in text


def test_cli_deploys_an_adapter_folder_and_serves_it(
    tmp_path: Path, tiny_base: Path, cli_adapter: Path
) -> None:
    root = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    where = ["-p", "lora-cli", "--repo-root", str(root)]
    done = _mlops(
        "deploy", str(cli_adapter), "--name", "lora-cli", "--version", "v1", *where, cwd=root
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["bento_tag"] == "lora-cli:v1" and result["api"]["route"] == "/generate"
    assert "serve it with:" in done.stderr and "lora-cli:v1" in done.stderr

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*MLOPS, "serve", "lora-cli:v1", *where],
            cwd=root,
            env={**os.environ, "COLUMNS": "250"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        serving = _wait_for(log, proc, r"^serving lora-cli:v1 at ", 300)
        url = re.search(r" at (\S+) \(log: ", serving)
        assert url is not None and url.group(1).endswith("/generate")
        example = shlex.split(_wait_for(log, proc, r"^try it: curl ", 10).removeprefix("try it: "))
        assert example[example.index("POST") + 1] == url.group(1)
        body = example[example.index("-d") + 1]
        request = urllib.request.Request(
            url.group(1), data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200
            answer = json.loads(response.read())
        sent = json.loads(body)
        expected = mlx_greedy(tiny_base, cli_adapter, [sent["prompt"]], sent["max_tokens"])
        assert answer["completions"] == expected
    finally:
        proc.send_signal(signal.SIGTERM)  # the command stops its server as on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0 and "stopping" in log.read_text()
