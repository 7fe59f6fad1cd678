"""A writer closing its segment while the agent delivers it: no crash, no point twice.

A training process removes a segment once all of it is acknowledged, and detaches
one it leaves unfinished on purpose (renames its ``.ack`` and then the segment).
The agent lists segments, then opens and reads them: a writer can act between
the two. ``mlops sync --watch`` died of the first race under load (the segment
was gone when it read it); the second could have made the agent start an empty
``.ack`` beside a half-delivered segment and send it again from its start, as
could a writer killed between a detach's two renames. Here the writer acts
exactly in those gaps, on a real sqlite MLflow store (which drops a point
identical to one it holds: what the agent sent is counted).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.config import load_settings
from mlops.telemetry.agent import store_key
from mlops.telemetry.delivery import Deliverer
from mlops.telemetry.wal import Segment, detached_path, encode_points, iter_segments
from mlops.telemetry.writer import _release

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from mlops.tracking._mlflow import MLflowTracker

    cfg = load_settings("races", repo_root=tmp_path_factory.mktemp("races"))
    yield MLflowTracker(cfg)


class RacingDeliverer(Deliverer):
    """A deliverer whose writer acts right after the segments were listed (once)."""

    between: Any = None

    def _segments(self) -> list[Path]:
        listed = super()._segments()
        if self.between is not None:
            act, self.between = self.between, None
            act()
        return listed


def _setup(tracker: Any, tmp_path: Path, points: int) -> tuple[str, Path, Segment, Deliverer]:
    run_id = tracker.mlflow_client.create_run(tracker.experiment_id).info.run_id
    wal = tmp_path / "wal"
    segment = Segment.create(wal, run_id, "w0", 0)
    segment.append(
        b"".join(encode_points([("x", float(i))], i, 1_700_000_000_000 + i) for i in range(points))
    )
    cfg = tracker.settings
    deliverer = RacingDeliverer(cfg, wal, store_key(cfg), tracker=lambda: tracker)
    return run_id, wal, segment, deliverer


def _steps(tracker: Any, run_id: str) -> list[int]:
    return sorted(m.step for m in tracker.mlflow_client.get_metric_history(run_id, "x"))


def test_a_segment_its_writer_removes_after_the_listing_is_skipped(
    tracker: Any, tmp_path: Path
) -> None:
    run_id, wal, segment, deliverer = _setup(tracker, tmp_path, 100)
    try:
        assert deliverer.step()["delivered_points"] == 100
        # Everything is acknowledged; the writer closes (and removes) it mid-step.
        deliverer.between = lambda: _release(segment, ended=True)
        state = deliverer.step()  # raised FileNotFoundError before
        assert state["pending_records"] == 0
        assert list(wal.rglob("*.ack")) == [], "an .ack left behind for a removed segment"
        assert list(iter_segments(wal)) == []
    finally:
        deliverer.close()
    assert _steps(tracker, run_id) == list(range(100))


def test_a_segment_its_writer_detaches_after_the_listing_is_delivered_once(
    tracker: Any, tmp_path: Path
) -> None:
    run_id, wal, segment, deliverer = _setup(tracker, tmp_path, 50)
    try:
        deliverer.step()  # the first 50 points, acknowledged
        more = b"".join(
            encode_points([("x", float(i))], i, 1_700_000_000_000 + i) for i in range(50, 80)
        )
        segment.append(more)
        target = detached_path(segment.path)
        # A fresh agent (no cursor yet) lists the segment; its writer then moves the
        # .ack, and has not yet renamed the segment (the middle of a detach).
        fresh = RacingDeliverer(
            tracker.settings, wal, store_key(tracker.settings), tracker=lambda: tracker
        )
        fresh.between = lambda: segment.path.with_suffix(".ack").rename(target.with_suffix(".ack"))
        fresh.step()
        assert not segment.path.with_suffix(".ack").exists(), "an empty .ack was started"
        segment.path.rename(target)  # the detach completes
        segment.close(delete=False)  # the writer exits
        for _ in range(5):
            if fresh.step()["pending_records"] == 0:
                break
        fresh.close()
    finally:
        deliverer.close()
    # MLflow's stores drop a point identical to a stored one: count what was sent.
    assert fresh.tally.delivered_points == 30, "the first 50 points were sent again"
    assert _steps(tracker, run_id) == list(range(80))


def test_a_writer_killed_in_the_middle_of_a_detach_loses_and_repeats_nothing(
    tracker: Any, tmp_path: Path
) -> None:
    run_id, wal, segment, deliverer = _setup(tracker, tmp_path, 50)
    deliverer.step()  # the first 50 points, acknowledged
    deliverer.close()
    segment.append(
        b"".join(encode_points([("x", float(i))], i, 1_700_000_000_000 + i) for i in range(50, 80))
    )
    target = detached_path(segment.path)
    segment.path.with_suffix(".ack").rename(target.with_suffix(".ack"))
    for fd in (segment.fd, segment.ack_fd):  # killed here: the segment keeps its old name
        os.close(fd)
    fresh = RacingDeliverer(
        tracker.settings, wal, store_key(tracker.settings), tracker=lambda: tracker
    )
    try:
        for _ in range(5):
            if fresh.step()["pending_records"] == 0:
                break
    finally:
        fresh.close()
    # MLflow's stores drop a point identical to a stored one: count what was sent.
    assert fresh.tally.delivered_points == 30, "the first 50 points were sent again"
    assert _steps(tracker, run_id) == list(range(80))
    assert list(iter_segments(wal)) == []
