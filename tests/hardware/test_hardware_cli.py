"""``mlops hardware`` as a user runs it: the real console script, in a fresh folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

from tests.conftest import with_terminal_signals

MLOPS = str(Path(sys.executable).parent / "mlops")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOPS, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_once_prints_one_table(tmp_path: Path) -> None:
    done = _run(["hardware", "--once"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "probes: cpu" in done.stdout
    assert "system/system_memory_usage_megabytes" in done.stdout
    assert "cpu_cores_logical" in done.stdout


def test_json_for_scripts(tmp_path: Path) -> None:
    done = _run(["hardware", "--once", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # No GPU, not a Mac; the MLX probe is there wherever MLX is installed (silent until loaded).
    assert report["probes"] == (["cpu", "mlx"] if find_spec("mlx") else ["cpu"])
    assert not any(name.startswith("system/mlx_") for name in report["metrics"])
    assert report["metrics"]["system/system_memory_usage_megabytes"] > 0


def test_live_view_refreshes_until_ctrl_c(tmp_path: Path) -> None:
    # TTY_COMPATIBLE=1: rich draws the live view into the pipe as it would on a terminal.
    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "120"}
    proc = subprocess.Popen(
        with_terminal_signals([MLOPS, "hardware", "--refresh", "0.2"]),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum("system/system_memory_usage_megabytes" in line for line in list(seen)) >= 3:
            break  # three refreshes drawn
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    reader.join(5)
    err = proc.stderr.read() if proc.stderr else ""
    assert sum("system/system_memory_usage_megabytes" in line for line in seen) >= 3
    assert proc.returncode == 0, err  # Ctrl-C is how the view ends, not an error
    assert "Traceback" not in err


def test_a_bad_option_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(["hardware", "--refresh", "0"], tmp_path)
    assert done.returncode != 0
    assert "refresh" in (done.stdout + done.stderr)
