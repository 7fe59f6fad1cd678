"""A property of the write-ahead log: the store ends up with the acknowledged points, once.

Hypothesis draws sequences of operations on one run's log: appends (each one
``write(2)`` of a few points, acknowledged when it returns), torn writes (part of a
line written, then the writer dies: a ``kill -9`` mid-write), failed short writes
(cut back by the segment, the writer goes on), kills (the segment's descriptors
closed with no clean-up, as the kernel does for a dead process; the next append
opens a new segment), clean closes, lost acknowledgements (a delivering agent
killed between ``log_batch`` and its ``.ack`` write) and replays (a fresh
:class:`~mlops.telemetry.delivery.Deliverer`, i.e. a new agent, delivering to a
real sqlite MLflow store until nothing is pending). Whatever the order, the
run's metric history holds every acknowledged point exactly once, and nothing
else but the whole lines a torn write left before its cut (its call never
returned: they may be stored, once, or not).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.config import Settings, load_settings
from mlops.telemetry.agent import store_key
from mlops.telemetry.delivery import Deliverer
from mlops.telemetry.wal import (
    Segment,
    encode_points,
    iter_segments,
    read_ack,
    read_entries,
    write_ack,
)

pytestmark = pytest.mark.integration

KEYS = ["loss", "acc", "val/loss"]
Point = tuple[str, float, int, int]  # key, value, step, timestamp

values = st.floats(allow_nan=False, allow_infinity=False, width=64)
points = st.lists(
    st.tuples(st.sampled_from(KEYS), values, st.integers(0, 2**40)), min_size=1, max_size=5
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), points),
        st.tuples(st.just("torn"), points, st.floats(0.05, 0.95)),
        st.tuples(st.just("short"), points, st.floats(0.05, 0.95)),
        st.tuples(st.just("kill")),
        st.tuples(st.just("close")),
        st.tuples(st.just("lose_ack"), st.integers(0, 10)),
        st.tuples(st.just("replay")),
    ),
    max_size=14,
)


@dataclass
class Store:
    """One sqlite MLflow store shared by every example (a new run per example)."""

    settings: Settings
    tracker: Any
    root: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from mlops.tracking._mlflow import MLflowTracker

    root = tmp_path_factory.mktemp("wal-property")
    cfg = load_settings("walprop", repo_root=root)
    tracker = MLflowTracker(cfg)
    yield Store(cfg, tracker, root)


@dataclass
class Log:
    """The writer's side of one example: the open segment and what was acknowledged."""

    wal: Path
    run_id: str
    writer: itertools.count[int] = field(default_factory=itertools.count)
    segment: Segment | None = None
    acked: list[Point] = field(default_factory=list)
    maybe: list[Point] = field(default_factory=list)  # whole lines of a torn write
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1_700_000_000_000))

    def _open(self) -> Segment:
        if self.segment is None:
            self.segment = Segment.create(self.wal, self.run_id, f"w{next(self.writer)}", 0)
        return self.segment

    def _lines(self, drawn: list[tuple[str, float, int]]) -> tuple[bytes, list[Point]]:
        made = [(k, v, s, next(self.clock)) for k, v, s in drawn]
        data = b"".join(encode_points([(k, v)], s, ts) for k, v, s, ts in made)
        return data, made

    def append(self, drawn: list[tuple[str, float, int]]) -> None:
        data, made = self._lines(drawn)
        self._open().append(data)  # returned: acknowledged
        self.acked.extend(made)

    def torn(self, drawn: list[tuple[str, float, int]], cut: float) -> None:
        """A write the writer's death cut short: its call never returned.

        The whole lines before the cut are records: they may be stored (a call
        of several points killed mid-write is not all-or-nothing), never twice.
        """
        data, made = self._lines(drawn)
        segment = self._open()
        kept = data[: max(1, int(len(data) * cut))]
        os.write(segment.fd, kept)
        self.maybe.extend(made[: kept.count(b"\n")])
        self.kill()

    def short(self, drawn: list[tuple[str, float, int]], cut: float) -> None:
        """A write that failed part-way (a full disk): cut back, the call raised."""
        data, _ = self._lines(drawn)
        segment = self._open()
        os.write(segment.fd, data[: max(1, int(len(data) * cut))])
        segment._cut_back()  # what Segment.append does on a short write

    def kill(self) -> None:
        """The process dies: its descriptors close (the lock goes), nothing is cleaned up."""
        if self.segment is not None:
            for fd in (self.segment.fd, self.segment.ack_fd):
                os.close(fd)
            self.segment = None

    def close(self) -> None:
        if self.segment is not None:
            self.segment.close(delete=False)
            self.segment = None


def replay(store: Store, wal: Path) -> None:
    """A new agent delivers the whole log."""
    cfg = store.settings
    deliverer = Deliverer(cfg, wal, store_key(cfg), tracker=lambda: store.tracker)
    try:
        for _ in range(50):
            state = deliverer.step()
            if state["pending_records"] == 0:
                return
        raise AssertionError(f"the log was not drained: {state}")
    finally:
        deliverer.close()


def lose_ack(wal: Path, pick: int) -> None:
    """An agent died after delivering, before acknowledging: the offset goes back."""
    segments = list(iter_segments(wal))
    if not segments:
        return
    path = segments[pick % len(segments)]
    fd = os.open(path.with_suffix(".ack"), os.O_RDWR)
    try:
        acked = read_ack(fd)  # back to an earlier record boundary, never forward
        ends = [0] + [e.end for e in read_entries(path, 0, 1_000_000, stop=acked)]
        write_ack(fd, ends[pick % len(ends)])
    finally:
        os.close(fd)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_store_holds_each_acknowledged_point_once(store: Store, ops: list[tuple[Any, ...]]) -> None:
    run = store.tracker.mlflow_client.create_run(store.tracker.experiment_id)
    wal = Path(tempfile.mkdtemp(dir=store.root, prefix="wal-"))
    log = Log(wal, run.info.run_id)
    for op in ops:
        if op[0] == "append":
            log.append(op[1])
        elif op[0] == "torn":
            log.torn(op[1], op[2])
        elif op[0] == "short":
            log.short(op[1], op[2])
        elif op[0] == "kill":
            log.kill()
        elif op[0] == "close":
            log.close()
        elif op[0] == "lose_ack":
            lose_ack(wal, op[1])
        else:
            replay(store, wal)
    log.kill()
    replay(store, wal)
    client = store.tracker.mlflow_client
    stored = sorted(
        (m.key, m.value, m.step, m.timestamp)
        for key in KEYS
        for m in client.get_metric_history(run.info.run_id, key)
    )
    assert len(stored) == len(set(stored)), "a point stored twice"
    assert set(log.acked) <= set(stored), "an acknowledged point lost"
    assert set(stored) <= set(log.acked) | set(log.maybe), "a point nobody logged"
    assert list(iter_segments(wal)) == []  # every dead writer's segment delivered and removed
