"""Leaving a run and exiting the interpreter wait one ``flush_timeout`` together.

Found by ``test_slow_delivery_leave_and_exit_share_one_bound``: when delivery
progresses but does not finish, the run's end waited its whole bound and the
interpreter's exit waited a whole second one. Here the delivering side is a
thread that acknowledges the segment slowly, through the WAL's own ``.ack``
format, so the progress during the waits is certain.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlops.config import load_settings
from mlops.invocation import mlops_command
from mlops.telemetry import agent, writer
from mlops.telemetry.wal import write_ack


def test_exit_waits_only_what_the_run_end_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "spawn", lambda *a, **k: None)  # the thread below delivers
    overrides = {"tracking": {"offline_after": 0.2}, "telemetry": {"flush_timeout": 1.0}}
    settings = load_settings("bound", repo_root=tmp_path, overrides=overrides)
    wal = writer.WalWriter(settings, tmp_path / "wal", mlops_command)
    for i in range(2000):
        wal.submit("run1", [("loss", float(i))], i, 1_700_000_000_000 + i)
    segment = wal._open["run1"]
    stop = threading.Event()

    def slow_delivery() -> None:  # a few bytes acknowledged every 50 ms: progress, never done
        acked = 0
        while not stop.wait(0.05):
            acked = min(acked + 40, segment.written - 1)
            write_ack(segment.ack_fd, acked)

    thread = threading.Thread(target=slow_delivery, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        assert not wal.finish_run("run1", "FINISHED", settings.telemetry.flush_timeout)
        left_run = time.monotonic() - started
        writer._close_at_exit()
        total = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
        wal.close(0)
    assert left_run >= 0.9  # the run's end waited its bound (delivery was moving)
    assert total <= 1.0 + 0.3, f"run end {left_run:.2f} s + exit {total - left_run:.2f} s"
